"""The twin's session clock: drop-copy timestamps of a simulated past session.

A demo or drill for a past business date needs events stamped on that date (CAT, recon and the store key
on the New York trade date). `COLO_OPS_TWIN_SESSION_DATE=YYYY-MM-DD` makes the twin stamp events from
09:30 ET of that date onwards, advancing in real time. Only event stamps move: heartbeats, `core_time_ns`,
request expiry and temporary limit reverts stay on the wall clock. A real core has no such setting.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

ENV = "COLO_OPS_TWIN_SESSION_DATE"
OPEN_ET = dt.time(9, 30)


def event_clock_offset_ns(now_ns: int | None = None, env: dict[str, str] | None = None) -> int:
    """Nanoseconds to add to the wall clock for event stamps (0 when no session date is set)."""
    value = (env if env is not None else os.environ).get(ENV, "").strip()
    if not value:
        return 0
    day = dt.date.fromisoformat(value)
    open_ns = int(dt.datetime.combine(day, OPEN_ET, ZoneInfo("America/New_York")).timestamp()) * 1_000_000_000
    return open_ns - (now_ns if now_ns is not None else time.time_ns())
