"""The business date a flow run is for. Time is UTC inside; America/New_York only here, at the edge."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")


def today_ny(now: dt.datetime | None = None) -> dt.date:
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(NY).date()


def parse_date(value: str | dt.date | None, *, now: dt.datetime | None = None) -> dt.date:
    """`None` means today in New York; strings must be YYYY-MM-DD."""
    if value is None:
        return today_ny(now)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, got {value!r}") from None


def ny_time_ns(date: dt.date, hour: int, minute: int = 0) -> int:
    """UTC nanoseconds of a wall-clock time in New York on `date` (DST-correct)."""
    local = dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=NY)
    return int(local.timestamp()) * 1_000_000_000
