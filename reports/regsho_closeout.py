"""The daily Reg SHO Rule 204 close-out report: a pure writer to reports/<date>/regsho/ (closeout_<date>.json
and closeout_<date>.html): each fail with its deadline and status, the penalty box pushed to the core, and the
deadline table with what in it is unverified. Byte-identical for the same inputs (sorted, no wall clock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.render import render, write_html_json


def _tables(doc: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]], str]]:
    return {
        "Summary": (["figure", "value"], [[k.replace("_", " "), v] for k, v in doc["summary"].items()], "none"),
        "Fails and close-out deadlines": (
            ["fail", "symbol", "sale", "trade date", "settlement date", "shares", "deadline (09:30 ET of)", "rule",
             "bought by deadline", "status"],
            [[f["fail_id"], f["symbol"], f["sale_type"], f["trade_date"], f["settlement_date"], f["quantity"],
              f["deadline_day"], f["rule"], f["bought_by_deadline"], f["status"]] for f in doc["fails"]],
            "no open fails in the clearer's file"),
        "Penalty box (Rule 204(b): pre-borrow required)": (
            ["symbol", "since", "pre-borrowed shares"],
            [[p["symbol"], p["since"], p["preborrowed_shares"]] for p in doc["penalty_box"]],
            "empty: no fail is past its deadline"),
        "Deadline table": (
            ["sale type", "what", "rule", "deadline", "verified"],
            [[r["sale_type"], r["description"], r["rule"], r["deadline"], "yes" if r["verified"] else "NO"]
             for r in doc["rules"]], "none"),
    }


def markdown_summary(doc: dict[str, Any]) -> str:
    lines = [f"# Reg SHO Rule 204 close-outs {doc['date']}", "", f"Evaluated as of {doc['as_of']}.", ""]
    for title, (headers, rows, empty) in _tables(doc).items():
        lines += [f"## {title}", "", md_table(headers, rows, empty), ""]
    return "\n".join(lines)


def render_html(doc: dict[str, Any]) -> str:
    return render("regsho_closeout.html.j2", title=f"Reg SHO close-outs {doc['date']}",
                  report_name="Reg SHO Rule 204 close-outs", business_date=doc["date"], sources=doc["sources"],
                  doc=doc, tables=_tables(doc))


def write_closeout_report(doc: dict[str, Any], reports_dir: Path) -> list[Path]:
    """Write closeout_<date>.html and closeout_<date>.json under reports_dir/regsho; HTML first."""
    return write_html_json(reports_dir / "regsho", f"closeout_{doc['date']}", doc, render_html(doc),
                           sort_keys=False)
