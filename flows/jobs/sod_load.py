"""`sod-load`: fetch the clearer's SOD positions and balances, validate, load whole, push SOD positions to
the core (ack required), publish the validation report and a summary as artifacts. Thin wiring over
flows/clearing/runs.py; ends as Completed("not a session") on non-sessions."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed

from flows.calendars import require_session
from flows.clearing.runs import RunSummary, run_sod_load
from flows.clearing.wiring import core_for, engine_for, load_settings
from flows.dates import parse_date
from flows.errors import FileRejectedError, NotASessionError
from flows.sources.config import clearing_source


@task(name="sod-load-files-and-push")
def load_and_push(day: Any) -> RunSummary:
    settings = load_settings()
    engine = engine_for(settings)
    source = clearing_source(settings)
    core = core_for(settings)
    try:
        return run_sod_load(engine, source, day, settings.home, core)
    finally:
        source.close()
        if core is not None:
            core.close()
        engine.dispose()


@flow(name="sod-load", log_prints=False)
def sod_load(date: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    try:
        summary = load_and_push(day)
    except FileRejectedError as exc:
        create_markdown_artifact(key="sod-load-validation", markdown=f"**rejected**: {exc}\n",
                                 description=f"sod-load {day}: file rejected and quarantined")
        raise
    for f in summary.files:
        if f.report is not None:
            create_markdown_artifact(key="sod-load-validation", markdown=f.report.markdown(),
                                     description=f"{f.name}: validation")
    create_markdown_artifact(key="sod-load-summary", markdown=summary.markdown(), description=f"sod-load {day}")
    return summary.pushed | {"files": [(f.name, f.status, f.records) for f in summary.files]}
