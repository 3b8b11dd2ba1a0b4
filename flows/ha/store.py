"""Drill results into the ops DB (`ha_drills`), kept for 17a-4 retention. Idempotent per (date, drill):
a re-run of the same date replaces that date's rows with the new results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Engine

from flows.store.db import session_scope
from flows.store.models import DrillResult, HaDrill


def drill_id(date: str, index: int, scenario: str) -> str:
    """Derived, not random (design principle 4): the same date and position give the same id."""
    return f"ha-{date}-{index:02d}-{scenario}"[:64]


def store_drills(engine: Engine, date: str, drills: Sequence[dict[str, Any]], started_at: dt.datetime) -> int:
    """Replace the date's drill rows with these; returns how many were written."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware (UTC)")
    day = dt.date.fromisoformat(date)
    with session_scope(engine) as s:
        s.execute(delete(HaDrill).where(HaDrill.business_date == day))
        for i, d in enumerate(drills):
            aborted = any(str(f).startswith("drill aborted") for f in d.get("failures", []))
            result = DrillResult.PASS if d.get("ok") else DrillResult.ABORTED if aborted else DrillResult.FAIL
            s.add(HaDrill(drill_id=drill_id(date, i, d["scenario"]), business_date=day, scenario=d["scenario"],
                          started_at=started_at, result=result.value,
                          metrics={"metrics": d.get("metrics", {}), "checks": d.get("checks", {}),
                                   "fault_method": d.get("fault_method", ""), "fault_note": d.get("fault_note", ""),
                                   "failures": d.get("failures", []), "refusals": d.get("refusals", [])}))
    return len(drills)
