"""`regsho-report` (16:45 ET): the day's locate usage into the locate log and the daily Reg SHO report.
Thin wiring over flows/clearing/runs.py."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed

from flows.calendars import require_session
from flows.clearing.runs import run_regsho_report
from flows.clearing.wiring import engine_for, load_settings
from flows.dates import parse_date
from flows.errors import NotASessionError


@flow(name="regsho-report", log_prints=False)
def regsho_report(date: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    settings = load_settings()
    engine = engine_for(settings)
    try:
        summary = run_regsho_report(engine, day, settings.reports_dir(day.isoformat()))
    finally:
        engine.dispose()
    create_markdown_artifact(key="regsho-report", markdown=summary.markdown(), description=f"Reg SHO {day}")
    return {"outputs": summary.outputs, "alerts": summary.alerts}
