"""`regsho-closeout` (05:50 ET, after sod-load): the clearer's CNS fails file → Rule 204 close-out deadlines
and closures (purchases in the journal) → the penalty box pushed to the core as "pre-borrow required" (audited
`set_preborrow`) → reports/<date>/regsho/closeout_<date>.{html,json}. Thin wiring over
flows/clearing/closeout_run.py; fails (and so alerts) when the file is rejected or the core does not ack.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.states import Completed

from flows.calendars import require_session
from flows.clearing.closeout_run import CloseoutRun, run_regsho_closeout
from flows.clearing.wiring import core_for, engine_for, load_settings
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.orchestration.artifacts import publish_report
from flows.sources.config import clearing_source
from reports.regsho_closeout import markdown_summary


@task(name="closeout-load-evaluate-push", tags=["core-control"])
def load_evaluate_push(day: Any) -> CloseoutRun:
    settings = load_settings()
    engine = engine_for(settings)
    source = clearing_source(settings)
    core = core_for(settings)
    try:
        return run_regsho_closeout(engine, source, day, settings.home, core, settings.reports_dir(day.isoformat()))
    finally:
        source.close()
        if core is not None:
            core.close()
        engine.dispose()


@flow(name="regsho-closeout", log_prints=False)
def regsho_closeout(date: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    run = load_evaluate_push(day)
    publish_report("regsho-closeout", markdown_summary(run.doc), run.outputs, settings=load_settings(),
                   description=f"Reg SHO Rule 204 close-outs {day}", link_key="regsho-closeout-link")
    return run.pushed | {"summary": run.doc["summary"], "penalty_box": sorted(run.box)}
