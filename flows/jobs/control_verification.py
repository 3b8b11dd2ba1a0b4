"""`control-verification` (weekly, Saturday): drive a scratch twin core with orders at each 15c3-5 control's
boundary and file the pass/fail evidence under reports/<date>/compliance/ (the annual review reads it).
Fails, after writing the evidence, when any control missed its boundary."""

from __future__ import annotations

from typing import Any

from prefect import flow

from core_bridge.settings import load_settings
from flows.controls.verify_run import verification_doc, verify_on_scratch_twin, write_verification
from flows.dates import parse_date
from flows.errors import ControlVerificationFailedError
from flows.orchestration.artifacts import publish_report
from reports.compliance import verification_markdown


@flow(name="control-verification", log_prints=False)
def control_verification(date: str | None = None) -> Any:
    day = parse_date(date)
    settings = load_settings()
    doc = verification_doc(day, verify_on_scratch_twin())
    paths = write_verification(doc, settings.reports_dir(day.isoformat()))
    publish_report("control-verification", verification_markdown(doc), paths, settings=settings,
                   description=f"15c3-5 control verification {day}", link_key="control-verification-link")
    if not doc["passed"]:
        missed = [f"{r['control']} {r['label']}" for r in doc["results"] if not r["passed"]] + doc["errors"]
        raise ControlVerificationFailedError("controls missed their boundary: " + "; ".join(missed))
    return {"outputs": [str(p) for p in paths], "passed": True}
