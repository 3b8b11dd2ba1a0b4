"""The daily Reg SHO report: a pure writer from the day's data to files under reports/<date>/regsho/
(regsho_<date>.json, locates_<date>.csv and regsho_<date>.html with a chart of locates granted and consumed).

locates_<date>.csv is the Rule 203(b)(1)(iii) record, one row per locate: when it was obtained, the account it
was allocated to, the source (the ETB list file with its date and sha256, or the lender and its confirmation id
for a pre-borrow), the quantity granted and every short sale that consumed it (time, quantity, order, account).
It is retained under the 17a-4 policy (flows/archive: kind locate_log).

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
from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.render import markup, render
from reports.svg import bar_chart

CSV_COLUMNS = ("locate_id", "obtained_utc", "account", "symbol", "cusip", "method", "source", "source_file",
               "source_date", "source_sha256", "lender", "confirmation_id", "granted", "used", "order_ids",
               "consumed_by")


@dataclass(frozen=True)
class Consumption:
    """A short sale that used the locate: execution time (UTC, ns), shares, order, account."""

    time_utc: str
    qty: int
    order_id: int
    account: str

    def text(self) -> str:
        return f"{self.time_utc} {self.qty} order {self.order_id} {self.account}"


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
    obtained_utc: str = ""
    account: str = ""
    source_file: str = ""  # the ETB / pre-borrow list file behind it
    source_date: str = ""
    source_sha256: str = ""
    lender: str = ""  # pre-borrow / specific locates
    confirmation_id: str = ""
    consumed: tuple[Consumption, ...] = ()


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
    sources: list[dict[str, str]] = field(default_factory=list)  # {name, path, sha256}: the list files used


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
    return render("regsho.html.j2", title=f"Reg SHO {doc['date']}", report_name="Reg SHO",
                  business_date=doc["date"], sources=doc.get("sources", []), doc=doc, chart=markup(chart),
                  sections=_sections(doc))


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
        "locates": [asdict(x) | {"order_ids": list(x.order_ids), "consumed": [asdict(c) for c in x.consumed]}
                    for x in sorted(day.locates, key=lambda x: x.symbol)],
        "short_sales_without_locate": [asdict(x) | {"order_ids": list(x.order_ids)}
                                       for x in sorted(day.unlocated_shorts, key=lambda x: x.symbol)],
        "threshold_securities_traded": dict(sorted(day.threshold_traded.items())),
        "preborrow_names": dict(sorted(day.preborrow.items())),
        "sources": [dict(x) for x in day.sources],
    }
    jpath = out / f"regsho_{ymd}.json"
    jpath.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for x in sorted(day.locates, key=lambda x: x.symbol):
        w.writerow([x.locate_id, x.obtained_utc, x.account, x.symbol, x.cusip, x.method, x.source, x.source_file,
                    x.source_date, x.source_sha256, x.lender, x.confirmation_id, x.granted, x.used,
                    " ".join(str(o) for o in x.order_ids), "; ".join(c.text() for c in x.consumed)])
    cpath = out / f"locates_{ymd}.csv"
    cpath.write_text(buf.getvalue())
    hpath = out / f"regsho_{ymd}.html"
    hpath.write_text(render_html(doc))
    return [jpath, cpath, hpath]
