"""The daily ops report: one HTML page (with inline SVG plots) + JSON per business date.

Pure: `OpsDay` in, files out; same input gives the same bytes. Gathering the figures from the store and
the other reports lives in flows/ops_report/gather.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path

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
    drills: list[dict[str, object]] = field(default_factory=list)
    flows: list[dict[str, str]] = field(default_factory=list)  # {flow, state}
    reports: dict[str, str] = field(default_factory=dict)  # name -> path relative to the report dir


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td>none</td></tr>'}</tbody></table>"


def render_html(day: OpsDay) -> str:
    hours = sorted(set(day.orders_by_hour) | set(day.rejects_by_hour))
    orders_chart = bar_chart(
        hours,
        {
            "orders": [day.orders_by_hour.get(h, 0) for h in hours],
            "rejects": [day.rejects_by_hour.get(h, 0) for h in hours],
        },
        title="Orders and rejects by hour (ET)",
    )
    lat = sorted(day.latency_ns.items())
    lat_chart = bar_chart([k for k, _ in lat], {"ns": [v for _, v in lat]}, title="Risk-gate latency percentiles (ns)")
    accts = sorted(day.bp_by_account)
    bp_chart = bar_chart(
        accts,
        {
            "used": [float(day.bp_by_account[a].get("used", 0)) for a in accts],
            "available": [float(day.bp_by_account[a].get("available", 0)) for a in accts],
        },
        title="Buying power per account (USD)",
    )
    btypes = sorted(day.breaks_by_type)
    breaks_chart = bar_chart(btypes, {"breaks": [day.breaks_by_type[b] for b in btypes]}, title="Recon breaks by type")
    drill_rows = [
        [d.get(k, "") for k in ("scenario", "detect_ms", "accept_ms", "gap_free_ms", "result")] for d in day.drills
    ]
    links = "".join(
        f'<li><a href="{escape(p)}">{escape(n)}</a></li>' for n, p in sorted(day.reports.items())
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>colo-ops daily report {escape(day.date)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}} h2{{margin-top:1.5em}}</style></head><body>
<h1>Daily ops report — {escape(day.date)}</h1>
<h2>Flows</h2>{_table(["flow", "state"], [[f["flow"], f["state"]] for f in day.flows])}
<h2>Orders</h2>{orders_chart}
{_table(["event type", "count"], [[k, v] for k, v in sorted(day.events_by_type.items())])}
<h2>Rejects by reason</h2>{_table(["reason", "count"], [[k, v] for k, v in sorted(day.rejects_by_reason.items())])}
<h2>Latency</h2>{lat_chart}
<h2>Buying power</h2>{bp_chart}
<h2>Reconciliation</h2>{breaks_chart}
<h2>CAT</h2>{_table(["event", "records"], [[k, v] for k, v in sorted(day.cat_counts.items())])}
<h2>HA drills</h2>{_table(["scenario", "detect ms", "accepting ms", "gap-free ms", "result"], drill_rows)}
<h2>Reports</h2><ul>{links}</ul>
</body></html>
"""


def write_ops_report(day: OpsDay, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "ops-report.html"
    html.write_text(render_html(day))
    (out_dir / "ops-report.json").write_text(json.dumps(asdict(day), indent=2, sort_keys=True))
    return html
