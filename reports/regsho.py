"""The daily Reg SHO report: a pure writer from the day's data to files under reports/<date>/regsho/
(regsho_<date>.json, locates_<date>.csv and regsho_<date>.html with a chart of locates granted and consumed).

Sections: locates granted and consumed; short sales without a locate (must be zero: the core blocks them
with LOCATE_UNAVAILABLE, so a non-zero count is a control failure to escalate); threshold securities the
firm traded; pre-borrow (Rule 204(b)) names. Byte-identical for the same inputs (sorted, no wall clock).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.svg import bar_chart


@dataclass(frozen=True)
class LocateLine:
    locate_id: str
    symbol: str
    cusip: str
    method: str
    source: str
    granted: int
    used: int
    order_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class UnlocatedShort:
    symbol: str
    shorted: int
    granted: int
    order_ids: tuple[int, ...] = ()


@dataclass
class RegShoDay:
    date: dt.date
    threshold_list_date: dt.date
    locates: list[LocateLine] = field(default_factory=list)
    unlocated_shorts: list[UnlocatedShort] = field(default_factory=list)
    threshold_traded: dict[str, int] = field(default_factory=dict)  # symbol -> shares traded
    preborrow: dict[str, int] = field(default_factory=dict)  # symbol -> shares pre-borrowed


def _html_table(headers: list[str], rows: list[list[Any]], empty: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    body = body or f'<tr><td colspan="{len(headers)}">{escape(empty)}</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sections(doc: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]], str]]:
    """The report's tables (headers, rows, what an empty one says), shared by the HTML and the markdown."""
    return {
        "Summary": (["figure", "value"], [[k.replace("_", " "), v] for k, v in doc["summary"].items()], "none"),
        "Short sales without a locate": (
            ["symbol", "shorted", "granted", "orders"],
            [[x["symbol"], x["shorted"], x["granted"], " ".join(str(o) for o in x["order_ids"])]
             for x in doc["short_sales_without_locate"]], "none: every short sale had a locate"),
        "Locates consumed": (
            ["symbol", "granted", "used", "method", "source"],
            [[x["symbol"], x["granted"], x["used"], x["method"], x["source"]] for x in doc["locates"] if x["used"]],
            "no locate consumed"),
        "Threshold securities traded": (["symbol", "shares traded"],
                                        [[k, v] for k, v in doc["threshold_securities_traded"].items()],
                                        "no threshold security traded"),
        "Pre-borrow (Rule 204(b))": (["symbol", "shares"], [[k, v] for k, v in doc["preborrow_names"].items()],
                                     "no pre-borrowed names"),
    }


def render_html(doc: dict[str, Any]) -> str:
    shown = [x for x in doc["locates"] if x["granted"] or x["used"]]
    chart = bar_chart([x["symbol"] for x in shown],
                      {"granted": [x["granted"] for x in shown], "consumed": [x["used"] for x in shown]},
                      title="Locates granted and consumed by symbol (shares)", width=max(640, 40 * len(shown)),
                      empty=f"no locates granted or consumed on {doc['date']}")
    bad = doc["summary"]["short_sales_without_locate"]
    parts = [
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Reg SHO {escape(doc['date'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}.bad{color:#b91c1c}</style></head><body>",
        f"<h1>Reg SHO — {escape(doc['date'])}</h1>",
        f"<p>Threshold lists of {escape(doc['threshold_list_date'])}. Short sales without a locate: "
        f"<b class=\"{'bad' if bad else ''}\">{bad}</b> (must be 0: the core blocks them).</p>",
        chart,
    ]
    for title, (headers, rows, empty) in _sections(doc).items():
        parts.append(f"<h2>{escape(title)}</h2>{_html_table(headers, rows, empty)}")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def markdown_summary(doc: dict[str, Any]) -> str:
    """For the Prefect markdown artifact: the same tables as the HTML."""
    lines = [f"# Reg SHO {doc['date']}", "", f"Threshold lists of {doc['threshold_list_date']}.", ""]
    for title, (headers, rows, empty) in _sections(doc).items():
        lines += [f"## {title}", "", md_table(headers, rows, empty), ""]
    return "\n".join(lines)


def write_regsho_report(day: RegShoDay, reports_dir: Path) -> list[Path]:
    """Write regsho_<date>.json (whole report), locates_<date>.csv and regsho_<date>.html; returns the paths."""
    out = reports_dir / "regsho"
    out.mkdir(parents=True, exist_ok=True)
    ymd = day.date.isoformat()
    doc = {
        "date": ymd,
        "threshold_list_date": day.threshold_list_date.isoformat(),
        "summary": {
            "locates_granted": sum(x.granted for x in day.locates),
            "locates_consumed": sum(x.used for x in day.locates),
            "short_sales_without_locate": len(day.unlocated_shorts),
            "threshold_securities_traded": len(day.threshold_traded),
            "preborrow_names": len(day.preborrow),
        },
        "locates": [asdict(x) | {"order_ids": list(x.order_ids)} for x in sorted(day.locates, key=lambda x: x.symbol)],
        "short_sales_without_locate": [asdict(x) | {"order_ids": list(x.order_ids)}
                                       for x in sorted(day.unlocated_shorts, key=lambda x: x.symbol)],
        "threshold_securities_traded": dict(sorted(day.threshold_traded.items())),
        "preborrow_names": dict(sorted(day.preborrow.items())),
    }
    jpath = out / f"regsho_{ymd}.json"
    jpath.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["locate_id", "symbol", "cusip", "method", "source", "granted", "used", "order_ids"])
    for x in sorted(day.locates, key=lambda x: x.symbol):
        w.writerow([x.locate_id, x.symbol, x.cusip, x.method, x.source, x.granted, x.used,
                    " ".join(str(o) for o in x.order_ids)])
    cpath = out / f"locates_{ymd}.csv"
    cpath.write_text(buf.getvalue())
    hpath = out / f"regsho_{ymd}.html"
    hpath.write_text(render_html(doc))
    return [jpath, cpath, hpath]
