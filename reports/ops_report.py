"""The daily ops report: one HTML page (with inline SVG plots) + JSON per business date.

Pure: `OpsDay` in, files out; same input gives the same bytes. Gathering the figures from the store and
the other reports lives in flows/ops_report/gather.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reports.ha import ROW_HEADERS, drill_cells, drill_row
from reports.markdown import table as md_table
from reports.render import markup, render
from reports.svg import bar_chart


@dataclass
class OpsDay:
    date: str
    orders_by_hour: dict[str, int] = field(default_factory=dict)  # "09" -> orders originated
    rejects_by_hour: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    latency_ns: dict[str, float] = field(default_factory=dict)  # p50/p90/p99 of the risk gate
    bp_by_account: dict[str, dict[str, str]] = field(default_factory=dict)  # acct -> {available, used}
    breaks_by_type: dict[str, int] = field(default_factory=dict)
    cat_counts: dict[str, int] = field(default_factory=dict)
    drills: list[dict[str, object]] = field(default_factory=list)  # reports.ha.drill_row shape
    kills: list[dict[str, str]] = field(default_factory=list)  # kill-to-flat runs: KILL_HEADERS + report
    flows: list[dict[str, str]] = field(default_factory=list)  # {flow, state}
    reports: dict[str, str] = field(default_factory=dict)  # name -> path relative to the report dir
    # What went wrong and what became of it: rejected files, recon breaks, CAT errors ({kind, item, detail, status})
    exceptions: list[dict[str, str]] = field(default_factory=list)


EXCEPTION_HEADERS = ("kind", "item", "detail", "status")
KILL_HEADERS = ("started", "scope", "operator", "outcome", "resting orders", "flatten orders", "still open")


def _kill_rows(day: OpsDay) -> list[list[object]]:
    return [[k.get(h, "") for h in KILL_HEADERS] for k in day.kills]


def _exception_rows(day: OpsDay) -> list[list[object]]:
    return [[e.get(h, "") for h in EXCEPTION_HEADERS] for e in day.exceptions]


def _rejects(day: OpsDay) -> int:
    return sum(day.rejects_by_reason.values())


def _charts(day: OpsDay) -> dict[str, str]:
    hours = sorted(set(day.orders_by_hour) | set(day.rejects_by_hour))
    lat = sorted(day.latency_ns.items())
    accts = sorted(day.bp_by_account)
    btypes = sorted(day.breaks_by_type)
    return {
        "orders": bar_chart(
            hours,
            {"orders": [day.orders_by_hour.get(h, 0) for h in hours],
             "rejects": [day.rejects_by_hour.get(h, 0) for h in hours]},
            title="Orders and rejects by hour (ET)", empty=f"no orders for {day.date}",
        ),
        "latency": bar_chart([k for k, _ in lat], {"ns": [v for _, v in lat]},
                             title="Risk-gate latency percentiles (ns)",
                             empty=f"no risk-gate latency figures for {day.date}"),
        "bp": bar_chart(
            accts,
            {"used": [float(day.bp_by_account[a].get("used", 0)) for a in accts],
             "available": [float(day.bp_by_account[a].get("available", 0)) for a in accts]},
            title="Buying power per account (USD)", empty=f"no buying-power snapshot for {day.date}",
            zero_is_empty=False,  # zero BP everywhere is the fail-closed state: draw it
        ),
        "breaks": bar_chart(btypes, {"breaks": [day.breaks_by_type[b] for b in btypes]}, title="Recon breaks by type",
                            empty=f"no breaks for {day.date}"),
    }


def _cells(rows: list[list[object]]) -> list[list[str]]:
    return [[str(c) for c in r] for r in rows]


def render_html(day: OpsDay) -> str:
    charts = {k: markup(v) for k, v in _charts(day).items()}
    tables = {
        "flows": (["flow", "state"], _cells([[f["flow"], f["state"]] for f in day.flows]), "no flow runs recorded"),
        "exceptions": (list(EXCEPTION_HEADERS), _cells(_exception_rows(day)), "no exceptions on this date"),
        "events": (["event type", "count"], _cells([[k, v] for k, v in sorted(day.events_by_type.items())]),
                   "no events"),
        "rejects": (["reason", "count"], _cells([[k, v] for k, v in sorted(day.rejects_by_reason.items())]),
                    "no rejects"),
        "cat": (["event", "records"], _cells([[k, v] for k, v in sorted(day.cat_counts.items())]), "no CAT records"),
        "drills": (list(ROW_HEADERS), _cells([drill_cells(drill_row(d)) for d in day.drills]),
                   "no drills on this date"),
    }
    kills = [{"cells": [str(c) for c in row], "report": k.get("report", "")}
             for row, k in zip(_kill_rows(day), day.kills, strict=True)]
    return render("ops_report.html.j2", title=f"colo-ops daily report {day.date}", report_name="Daily ops report",
                  business_date=day.date, sources=[], charts=charts, tables=tables, kills=kills,
                  kill_headers=list(KILL_HEADERS), links=sorted(day.reports.items()))


def render_markdown(day: OpsDay) -> str:
    """The report's key figures as markdown tables (the flow publishes this as its Prefect artifact)."""
    orders = day.events_by_type.get("ORDER_NEW", 0)
    lat = ", ".join(f"{k} {v:.0f} ns" for k, v in sorted(day.latency_ns.items())) or "none"
    parts = [
        f"# Daily ops report {day.date}", "",
        f"orders {orders} · rejects {_rejects(day)} · recon breaks {sum(day.breaks_by_type.values())} · "
        f"CAT records {sum(day.cat_counts.values())} · risk-gate latency {lat}", "",
        "## Flows", "", md_table(["flow", "state"], [[f["flow"], f["state"]] for f in day.flows],
                                 "no flow runs recorded"), "",
        "## Exceptions", "", md_table(list(EXCEPTION_HEADERS), _exception_rows(day), "no exceptions on this date"), "",
        "## Rejects by reason", "", md_table(["reason", "count"], sorted(day.rejects_by_reason.items()), "no rejects"),
        "", "## Buying power (USD)", "",
        md_table(["account", "available", "used"],
                 [[a, v.get("available", ""), v.get("used", "")] for a, v in sorted(day.bp_by_account.items())],
                 "no buying-power snapshot"), "",
        "## Recon breaks by type", "", md_table(["type", "breaks"], sorted(day.breaks_by_type.items()), "no breaks"),
        "", "## CAT", "", md_table(["event", "records"], sorted(day.cat_counts.items()), "no CAT records"), "",
        "## HA drills", "", md_table(ROW_HEADERS, [drill_cells(drill_row(d)) for d in day.drills],
                                     "no drills on this date"), "",
        "## Kill to flat", "", md_table(list(KILL_HEADERS), _kill_rows(day), "no kill to flat on this date"), "",
    ]
    return "\n".join(parts)


def write_ops_report(day: OpsDay, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "ops-report.html"
    html.write_text(render_html(day))
    (out_dir / "ops-report.json").write_text(json.dumps(asdict(day), indent=2, sort_keys=True))
    return html
