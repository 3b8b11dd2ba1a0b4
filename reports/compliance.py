"""15c3-5(e) evidence: the control-verification report and the annual review pack (inventory, limit history,
reject statistics, incidents, control test evidence, and a certification page for the CEO's signature).

Pure writers: JSON (keys sorted) + one print-friendly HTML each, rendered through reports/render.py. Same
document, byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.markdown import table as md_table
from reports.render import render, write_html_json

# The certification's wording paraphrases 17 CFR 240.15c3-5(e)(2) (see ../shared/domain/clearing_and_regulation.md
# §4); it is a starting text for the firm's counsel, not legal advice, and its exact wording is unverified.
CERTIFICATION = (
    "I, the undersigned Chief Executive Officer (or equivalent officer) of the firm, certify that, for the "
    "period {period}: (1) the firm's risk management controls and supervisory procedures for market access "
    "comply with paragraphs (b) and (c) of SEC Rule 15c3-5; and (2) the firm conducted the review of the "
    "effectiveness of those controls and procedures required by paragraph (e)(1) of the Rule, documented in "
    "this review pack."
)
CERTIFICATION_NOTE = "Certification text is a template, not legal advice; the firm's counsel approves its wording."



def verification_rows(doc: dict[str, Any]) -> list[list[Any]]:
    def terms(o: dict[str, Any]) -> str:
        return f"{o['account']} {o['side']} {o['qty']} {o['symbol']} @ {o['price']}"

    return [[r["control"], r["label"], terms(r["order"]), r["expect"], r["got"], "PASS" if r["passed"] else "FAIL"]
            for r in doc["results"]]


def write_verification_report(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """compliance/control_verification_<date>.{html,json}."""
    html = render("verification.html.j2", title=f"Control verification {doc['date']}",
                  report_name="15c3-5 control verification", business_date=doc["date"], sources=[], doc=doc,
                  rows=verification_rows(doc))
    return write_html_json(out_dir, f"control_verification_{doc['date']}", doc, html)


def verification_markdown(doc: dict[str, Any]) -> str:
    return "\n".join([f"# Control verification {doc['date']}: {'PASS' if doc['passed'] else 'FAIL'}", "",
                      md_table(["control", "steps", "passed"], [[k, v["steps"], v["passed"]]
                                                                for k, v in doc["by_control"].items()]),
                      "", *(f"- error: {e}" for e in doc["errors"]), ""])


def review_doc(pack: dict[str, Any]) -> dict[str, Any]:
    period = f"{pack['from']} to {pack['to']}"
    return {**pack, "certification": {"text": CERTIFICATION.format(period=period), "note": CERTIFICATION_NOTE}}


def write_review_pack(pack: dict[str, Any], out_dir: Path) -> list[Path]:
    """review_<from>_<to>.{html,json}; the JSON holds the certification text too."""
    doc = review_doc(pack)
    stem = f"review_{doc['from']}_{doc['to']}"
    html = render("review.html.j2", title=f"15c3-5 annual review {doc['from']} to {doc['to']}",
                  report_name="15c3-5 annual review", business_date=f"{doc['from']} to {doc['to']}",
                  sources=doc["sources"], doc=doc)
    return write_html_json(out_dir, stem, doc, html)


def review_markdown(doc: dict[str, Any]) -> str:
    v = doc["verification"]["latest"]
    return "\n".join([
        f"# 15c3-5 annual review {doc['from']} to {doc['to']}", "",
        f"sessions {doc['sessions']} · daily controls reports {doc['days_with_controls_report']} · gaps "
        f"{len(doc['gaps'])} · limit changes {len(doc['limit_history'])} · kills {len(doc['incidents']['kills'])} · "
        f"recon breaks {len(doc['incidents']['recon_breaks'])} · control verification "
        f"{'none in the period' if v is None else ('PASS' if v['passed'] else 'FAIL') + ' on ' + v['date']}", "",
        md_table(["control", "rejects", "days"], [[r["control"], r["rejects"], r["days_with_rejects"]]
                                                  for r in doc["reject_statistics"]], "no daily controls reports"),
        ""])
