"""`cat-feedback` flow: fetch CAT feedback for a date, seal and submit RPR repairs (and any firm COR
corrections), flag what is late against T+3 08:00 ET, and refresh the daily CAT report (published as the
markdown artifact `cat-feedback-<date>` with the report's files)."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.cat.events import load_events
from flows.cat.submission import make_submitter
from flows.cat.submissions import build_report, store_feedback, submit_sealed
from flows.dates import parse_date
from flows.orchestration.artifacts import publish_report
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_corrections, seal_repairs
from reports.cat.deadlines import previous_session, repair_deadline_ns
from reports.cat.feedback import parse_feedback
from reports.cat.report import write_report


@task
def repair_task(date: str, events_path: str | None, corrections: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    settings = load_settings()
    day = parse_date(date)
    cfg = CatConfig.from_settings(settings)
    reports_dir = settings.reports_dir(day.isoformat())
    cat_dir = reports_dir / "cat"
    submitter = make_submitter(settings)
    submitter.fetch_feedback(reports_dir / "cat_feedback")
    fb = parse_feedback(reports_dir / "cat_feedback")
    out: dict[str, Any] = {"errors": len(fb.errors), "submitted": [], "unrepairable": []}
    deadline = repair_deadline_ns(day)
    if fb.errors:
        events = load_events(settings, day, events_path)
        sub, missing = seal_repairs(fb.errors, events, ACCOUNTS_BY_ID, cfg, day, cat_dir, now_ns=time.time_ns())
        out["unrepairable"] = [e.error_roe_id for e in missing]
        if sub is not None:
            entry = submit_sealed(submitter, cat_dir, reports_dir, sub, deadline)
            out["submitted"] += [entry] if entry else []
    if corrections:
        sub = seal_corrections(corrections, cfg, day, cat_dir, now_ns=time.time_ns())
        entry = submit_sealed(submitter, cat_dir, reports_dir, sub, deadline)
        out["submitted"] += [entry] if entry else []
    submitter.fetch_feedback(reports_dir / "cat_feedback")
    rep = build_report(day, reports_dir)
    md, js = write_report(rep, reports_dir)
    repair_files = [f for e in out["submitted"] if e["kind"] == "RPR" for f in e["files"]]
    store_feedback(day, rep.errors, rep.repaired, repair_files[0] if repair_files else None)
    out["outstanding"] = rep.to_dict()["repairs_outstanding"]
    publish_report(f"cat-feedback-{day.isoformat()}", rep.to_markdown(), [md, js], settings=settings,
                   description=f"CAT feedback and repairs for {day.isoformat()}", link_key="cat-report")
    return out


@flow(name="cat-feedback")
def cat_feedback(date: str | None = None, events_path: str | None = None,
                 corrections: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Repairs for CAT's ingestion errors on `date` (RPR, carrying errorROEID) and firm corrections (COR)."""
    day = parse_date(date) if date else previous_session(parse_date(None))
    if not is_session(day):
        get_run_logger().info("%s is not an NYSE session: no CAT submission to repair", day)
        return {"date": day.isoformat(), "status": "not a session"}
    result = repair_task(day.isoformat(), events_path, corrections)
    get_run_logger().info("CAT feedback %s: %s", date, result)
    return result
