"""`bp-refresh`: available BP per account = min(clearing BP, 15c3-1 haircut capacity) − working-order
reserve, pushed to the core; stale or missing inputs push 0 for that account and alert (fail closed).
`as_of` defaults to the current 5-minute slot, so a re-run of the same slot updates, never duplicates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed

from flows.calendars import in_session_window, require_session, session_close
from flows.clearing.runs import RunSummary, run_bp_refresh
from flows.clearing.wiring import capital, core_for, engine_for, load_settings
from flows.dates import parse_date
from flows.errors import CoreNotAckedError, NotASessionError


def slot(now: dt.datetime, minutes: int = 5) -> dt.datetime:
    now = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=now.minute % minutes)


@task(name="bp-compute-and-push")
def compute_and_push(day: Any, as_of: dt.datetime) -> RunSummary:
    settings = load_settings()
    engine = engine_for(settings)
    core = core_for(settings)
    if core is None:
        raise CoreNotAckedError("bp-refresh needs the core (clearing.push is false)")
    try:
        enc, tnc = capital(settings)
        summary, _ = run_bp_refresh(engine, day, core, as_of, enc, tnc)
        return summary
    finally:
        core.close()
        engine.dispose()


@flow(name="bp-refresh", log_prints=False)
def bp_refresh(date: str | None = None, as_of: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    when = dt.datetime.fromisoformat(as_of) if as_of else slot(dt.datetime.now(dt.UTC))
    if when.tzinfo is None:
        raise ValueError("as_of must carry a UTC offset")
    if not in_session_window(day, when, dt.timedelta(minutes=5)):
        return Completed(message=f"session of {day} closed at {session_close(day).isoformat()}; no refresh")
    summary = compute_and_push(day, when)
    for alert in summary.alerts:
        get_run_logger().error("ALERT %s", alert)
    create_markdown_artifact(key="bp-refresh", markdown=summary.markdown(), description=f"bp-refresh {day}")
    return summary.pushed | {"alerts": summary.alerts}
