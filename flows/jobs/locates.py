"""`locates` (06:00 ET): ETB + pre-borrow lists and every exchange's threshold list (for the settlement day
before the trade date) → per-symbol locate availability pushed to the core, grants in the locate log.
Thin wiring over flows/clearing/runs.py."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed

from flows.calendars import require_session
from flows.clearing.runs import RunSummary, run_locates
from flows.clearing.wiring import core_for, engine_for, load_settings
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.sources.config import clearing_source


@task(name="locates-lists-and-push")
def lists_and_push(day: Any) -> RunSummary:
    settings = load_settings()
    engine = engine_for(settings)
    source = clearing_source(settings)
    core = core_for(settings)
    try:
        return run_locates(engine, source, day, settings.home, core)
    finally:
        source.close()
        if core is not None:
            core.close()
        engine.dispose()


@flow(name="locates", log_prints=False)
def locates(date: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    summary = lists_and_push(day)
    create_markdown_artifact(key="locates-summary", markdown=summary.markdown(), description=f"locates {day}")
    return summary.pushed | {"files": [(f.name, f.status, f.records) for f in summary.files]}
