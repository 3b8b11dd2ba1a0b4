"""`intraday-recon` (every 5 min 09:35–16:05 ET): the journal's fills vs the clearer's FIX drop copy. Thin
wiring of flows/recon/intraday_run.py; breaks are upserted by id, so a re-run for the same `as_of_ns` changes
nothing and a later run closes what resolved.

Settings: intraday_recon.grace_s (default 120: a fill younger than this is not missing yet);
alerts.webhook_url / alerts.apprise_url (new breaks, as `recon` sends them).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from core_bridge.settings import load_settings
from flows import calendars
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.orchestration.prefect_runs import tag_current_flow_run
from flows.recon import alerts
from flows.recon.intraday_run import alert_for, run
from flows.store.db import make_engine, upgrade

MAX_ARTIFACT_ROWS = 500


@flow(name="intraday-recon")
def intraday_recon(date: str | None = None, as_of_ns: int | None = None) -> dict[str, Any]:
    """Reconcile the drop copy against the journal as of `as_of_ns` (default: now)."""
    logger = get_run_logger()
    day = parse_date(date)
    try:
        calendars.require_session(day)
    except NotASessionError as exc:
        logger.info("%s", exc)
        return {"date": day.isoformat(), "status": "not a session"}
    now = as_of_ns if as_of_ns is not None else time.time_ns()
    if as_of_ns is None and not calendars.in_session_window(day, dt.datetime.now(dt.UTC), dt.timedelta(minutes=5)):
        return {"date": day.isoformat(), "status": "session closed"}
    settings = load_settings()
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        r = run(day, settings, engine, now)
    finally:
        engine.dispose()
    summary = r.summary()
    create_table_artifact(
        key="intraday-recon-open-breaks",
        table=[{k: row.get(k) for k in ("break_id", "btype", "age_s", "exec_id", "account", "symbol",
                                        "internal_qty", "clearing_qty", "internal_price", "clearing_price",
                                        "detail")} for row in r.open_rows[:MAX_ARTIFACT_ROWS]],
        description=f"Open intraday breaks of {day} ({len(r.open_rows)}); drop copy vs journal",
        _sync=True,  # type: ignore[call-arg]
    )
    alert = alert_for(r)
    if alert is not None:
        summary["alert"] = alerts.send(alert, settings, logger=logger, tag_run=tag_current_flow_run)
    logger.info("intraday recon %s: %d found, %d new, %d closed, %d open", day, summary["found"], summary["new"],
                summary["closed"], summary["open"])
    return summary | {"status": "breaks" if r.open_rows else "clean"}
