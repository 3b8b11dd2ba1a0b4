"""The daily 15c3-5 controls report: JSON + HTML under reports/<date>/controls/, from the document
flows/controls/day.py computes. Pure writer; same document, byte-identical files (keys sorted, no clock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.render import render, write_html_json

KIND_LABEL = {"raise": "raise", "decrease": "decrease", "revert (automatic)": "automatic revert"}


def _fmt_values(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'—' if v is None else v}" for k, v in d.items())


def change_rows(doc: dict[str, Any]) -> list[list[Any]]:
    return [[c["utc"], KIND_LABEL.get(c["kind"], c["kind"]), c["account"] or "firm", _fmt_values(c["before"]),
             _fmt_values(c["after"]), f"{c['requester']}" + (f" ({c['identity']})" if c.get("identity") else ""),
             (c["approver"] or "") + (f" (signed: {c['approver_identity']})" if c.get("approver_identity") else ""),
             c["reason"], c["expiry_utc"] or ("permanent" if c["permanent"] else ""),
             "pre-open" if c.get("pre_open") else ""] for c in doc["limits"]["changes"]]


def limits_rows(doc: dict[str, Any]) -> list[list[Any]]:
    firm = doc["limits"]["at_open"].get("firm", {})
    rows = [["firm", k, v] for k, v in firm.items()]
    for scope, vals in doc["limits"]["at_open"].items():
        if scope != "firm":
            rows += [[scope, k, v] for k, v in vals.items() if firm.get(k) != v]
    return rows


def kill_rows(doc: dict[str, Any]) -> list[list[Any]]:
    return [[k["utc"], k["scope"], k["key"] or "", k["level"], k["origin"], k["operator"] or "", k["reason"],
             k["until_utc"] or ("end of day" if k["open_at_end"] else ""), k["duration_s"]]
            for k in doc["kills"]["events"]]


def reject_rows(doc: dict[str, Any]) -> list[list[Any]]:
    return [[r["control"], r["count"], r["first_utc"] or "", r["last_utc"] or "",
             ", ".join(f"{k} {v}" for k, v in r["by_reason"].items())] for r in doc["rejects"]["by_control"]]


def example_rows(doc: dict[str, Any]) -> list[list[Any]]:
    return [[r["control"], e["utc"], e["event"], e["account"], e["symbol"], e["side"], e["qty"], e["price"],
             e["reason"], e["order_id"], e["seq"]] for r in doc["rejects"]["by_control"] for e in r["examples"]]


def exposure_rows(doc: dict[str, Any]) -> list[list[Any]]:
    ex = doc["exposure"]
    rows = [["firm", ex["firm"]["peak_gross"], ex["firm"]["peak_gross_utc"] or "", ex["firm"]["peak_net"],
             ex["firm"]["peak_net_utc"] or "", ex["firm"]["fills"]]]
    rows += [[a, p["peak_gross"], p["peak_gross_utc"] or "", p["peak_net"], p["peak_net_utc"] or "", p["fills"]]
             for a, p in ex["accounts"].items()]
    return rows


def render_html(doc: dict[str, Any]) -> str:
    return render("controls.html.j2", title=f"15c3-5 controls {doc['date']}", report_name="15c3-5 controls report",
                  business_date=doc["date"], sources=doc["sources"], doc=doc, limits_rows=limits_rows(doc),
                  change_rows=change_rows(doc), kill_rows=kill_rows(doc), reject_rows=reject_rows(doc),
                  example_rows=example_rows(doc), exposure_rows=exposure_rows(doc),
                  subtitle=f"SEC Rule 15c3-5 market access controls: evidence from the journal and the control "
                           f"audit log (audit day {doc['audit_day']})")


def markdown_summary(doc: dict[str, Any]) -> str:
    """For the Prefect artifact: the summary and the per-control reject counts."""
    s = doc["summary"]
    lines = [f"# 15c3-5 controls {doc['date']}", "",
             md_table(["figure", "value"], [[k, v] for k, v in s.items()]), "",
             "## Checks", "", md_table(["check", "ok", "detail"], [[c["check"], c["ok"], c["detail"]]
                                                                  for c in doc["checks"]]), "",
             "## Rejects by control", "",
             md_table(["control", "count", "first", "last"], [r[:4] for r in reject_rows(doc) if r[1]],
                      f"no rejects on {doc['date']}"), "",
             "## Sources", "", md_table(["source", "sha256"], [[x["name"], x["sha256"]] for x in doc["sources"]]), ""]
    return "\n".join(lines)


def write_controls_report(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """controls_<date>.html and controls_<date>.json; HTML first (the file a reader opens)."""
    return write_html_json(out_dir, f"controls_{doc['date']}", doc, render_html(doc))
