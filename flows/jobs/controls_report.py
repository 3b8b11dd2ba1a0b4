"""`controls-report` (16:50 ET, after the close): the day's SEC 15c3-5 controls evidence — limits in force and
every change, kill events, rejects by control, exposure peaks — computed from the journal and the control
audit log, under reports/<date>/controls/, and the `controls-report` artifact. Idempotent per date: a re-run
over the same records writes the same bytes."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed

from core_bridge.settings import load_settings
from flows.calendars import require_session
from flows.controls.run import run_controls_report
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.orchestration.artifacts import publish_report
from reports.controls import markdown_summary


@flow(name="controls-report", log_prints=False)
def controls_report(date: str | None = None, audit_date: str | None = None) -> Any:
    """`audit_date`: the wall-clock date the day's control commands were sent on, when it differs from `date`
    (a twin simulating a past session); default `date`."""
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    settings = load_settings()
    doc, paths = run_controls_report(settings, day, parse_date(audit_date) if audit_date else None)
    publish_report("controls-report", markdown_summary(doc), paths, settings=settings,
                   description=f"15c3-5 controls {day}", link_key="controls-report-link")
    return {"outputs": [str(p) for p in paths], "summary": doc["summary"]}
