"""`sod-load`: fetch the clearer's SOD positions and balances, validate, load whole, push SOD positions to
the core (ack required), publish the validation report and a summary as artifacts. Thin wiring over
flows/clearing/runs.py; ends as Completed("not a session") on non-sessions. `sod-load-progress` moves at
the coarse steps (fetch+validate → loaded → pushed) and says where a failed run stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed

from flows.calendars import require_session
from flows.clearing.runs import RunSummary, run_sod_load
from flows.clearing.wiring import core_for, engine_for, load_settings
from flows.dates import parse_date
from flows.errors import FileRejectedError, NotASessionError
from flows.orchestration.artifacts import Progress
from flows.sources.config import clearing_source


def _step(progress: Progress | None, pushing: bool) -> Callable[[str, RunSummary], None]:
    def on_step(step: str, summary: RunSummary) -> None:
        if progress is None:
            return
        files = ", ".join(f"{f.name} {f.status} ({f.records})" for f in summary.files)
        if step == "loaded":
            nxt = "pushing SOD positions to the core" if pushing else "push off"
            progress.update(70 if pushing else 95, f"{files}; {nxt}")
        else:
            progress.update(95, f"{files}; core acknowledged set_sod_positions")

    return on_step


@task(name="sod-load-files-and-push")
def load_and_push(day: Any, progress: Progress | None = None) -> RunSummary:
    settings = load_settings()
    engine = engine_for(settings)
    source = clearing_source(settings)
    core = core_for(settings)
    if progress is not None:
        progress.update(10, "fetching and validating the SOD positions and balances files")
    try:
        return run_sod_load(engine, source, day, settings.home, core, on_step=_step(progress, core is not None))
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
    progress = Progress("sod-load-progress", f"sod-load {day}: connecting to the clearer")
    try:
        summary = load_and_push(day, progress)
    except FileRejectedError as exc:
        progress.failed(f"file rejected and quarantined: {exc}")
        create_markdown_artifact(key="sod-load-validation", markdown=f"**rejected**: {exc}\n",
                                 description=f"sod-load {day}: file rejected and quarantined")
        raise
    except Exception as exc:
        progress.failed(exc)
        raise
    for f in summary.files:
        if f.report is not None:
            create_markdown_artifact(key="sod-load-validation", markdown=f.report.markdown(),
                                     description=f"{f.name}: validation")
    create_markdown_artifact(key="sod-load-summary", markdown=summary.markdown(), description=f"sod-load {day}")
    progress.done(", ".join(f"{f.name} {f.status}" for f in summary.files)
                  + (f"; pushed {summary.pushed.get('positions', 0)} positions" if summary.pushed else ""))
    return summary.pushed | {"files": [(f.name, f.status, f.records) for f in summary.files]}
