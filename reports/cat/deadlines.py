"""CAT deadlines on the NYSE calendar: events by 08:00 ET on T+1, repairs/corrections by 08:00 ET on T+3."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")


@functools.cache
def _xnys() -> Any:
    import exchange_calendars as xcals  # ~0.5 s import: only when a deadline is asked for

    return xcals.get_calendar("XNYS")


def nth_session_after(day: dt.date, n: int) -> dt.date:
    cal = _xnys()
    d = day
    for _ in range(n):
        d = cal.date_to_session(d + dt.timedelta(days=1), direction="next").date()
    return d  # type: ignore[no-any-return]


def _eight_am_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, 8, 0, tzinfo=NY).timestamp()) * 1_000_000_000


def submission_deadline_ns(day: dt.date) -> int:
    """08:00 ET on the next NYSE session after `day` (T+1)."""
    return _eight_am_ns(nth_session_after(day, 1))


def repair_deadline_ns(day: dt.date) -> int:
    """08:00 ET on the third NYSE session after `day` (T+3): repairs, corrections, late FDIDs (MENOS)."""
    return _eight_am_ns(nth_session_after(day, 3))


def ns_to_ny(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).astimezone(NY).strftime("%Y-%m-%d %H:%M:%S %Z")


def previous_session(day: dt.date) -> dt.date:
    """The NYSE session before `day` (cat-feedback runs the morning after)."""
    cal = _xnys()
    return cal.date_to_session(day - dt.timedelta(days=1), direction="previous").date()  # type: ignore[no-any-return]
