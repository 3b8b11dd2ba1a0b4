"""`eod-capture` (16:30 ET): close journal gaps by rewind, seal the day's journal, verify it, load the ops DB."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.dates import parse_date


@task(name="close-gaps-seal-load", tags=["journal"])
def close_gaps_seal_load(deadline_s: float) -> dict[str, Any]:
    from flows.journal_eod import run_eod
    from flows.store.db import make_engine, upgrade

    settings = load_settings()
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        return asdict(run_eod(settings, engine, deadline_s))
    finally:
        engine.dispose()


@flow(name="eod-capture")
def eod_capture(date: str | None = None, deadline_s: float = 120.0) -> dict[str, Any]:
    """Bring the journal level with the core, seal and verify it, and load it into the ops store."""
    day = parse_date(date)
    log = get_run_logger()
    if not is_session(day):
        log.info("%s is not an NYSE session", day)
        return {"date": day.isoformat(), "status": "not a session"}
    res = close_gaps_seal_load(deadline_s)
    res["date"] = day.isoformat()
    create_markdown_artifact(
        key="eod-capture",
        markdown="\n".join(
            [f"# eod-capture {day}", "", "| item | value |", "|---|---|"]
            + [f"| {k} | {v} |" for k, v in res.items()]
        ),
        description=f"journal sealed and loaded for {day}",
    )
    return res
