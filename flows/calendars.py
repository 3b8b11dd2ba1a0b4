"""Trading and settlement calendars: two calendars, because DTC closes on bank holidays when NYSE trades.

- Trading calendar: XNYS sessions from `exchange_calendars` (maintained; special closures such as the
  9 Jan 2025 day of mourning arrive there, not here).
- Settlement calendar (DTC/NSCC business days): weekdays that are neither NYSE closures nor the two
  Federal Reserve holidays on which the exchanges stay open, Columbus Day and Veterans Day. No maintained
  package models the DTC calendar (domain doc §7), so it is derived: NYSE closures + `BANK_ONLY_HOLIDAYS`.
  Fed observance: a holiday on Sunday is observed Monday; on Saturday it is not observed (banks open Friday).

T+1 settlement, Rule 204 close-outs and threshold-list availability follow the settlement calendar.
Dates are `datetime.date` (a business date has no time zone; it is the America/New_York calendar day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flows.errors import NotASessionError

SETTLEMENT_CYCLE_DAYS = 1  # T+1 since 28 May 2024 (SEC T+1 FAQ)


def _second_monday_of_october(year: int) -> dt.date:
    first = dt.date(year, 10, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7 + 7)


def _veterans_day(year: int) -> dt.date | None:
    day = dt.date(year, 11, 11)
    if day.weekday() == 6:  # Sunday -> observed Monday
        return day + dt.timedelta(days=1)
    if day.weekday() == 5:  # Saturday -> not observed by the Fed
        return None
    return day


# The bank holidays on which NYSE trades. One table: if DTC's practice differs, change it here.
BANK_ONLY_HOLIDAYS: tuple[Callable[[int], dt.date | None], ...] = (_second_monday_of_october, _veterans_day)


@lru_cache(maxsize=1)
def _xnys() -> Any:
    import exchange_calendars as xc  # ~0.7 s; only when a calendar question is asked

    return xc.get_calendar("XNYS")


def as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise TypeError("pass a business date, not a datetime")
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _check_range(day: dt.date) -> None:
    cal = _xnys()
    if not (cal.first_session.date() <= day <= cal.last_session.date()):
        raise ValueError(f"{day} is outside the XNYS calendar ({cal.first_session.date()}..{cal.last_session.date()})")


# --- trading calendar -------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def is_session(day: dt.date | str) -> bool:
    d = as_date(day)
    _check_range(d)
    return bool(_xnys().is_session(d.isoformat()))


def require_session(day: dt.date | str) -> dt.date:
    """The date, or NotASessionError so a flow can end cleanly as 'not a session'."""
    d = as_date(day)
    if not is_session(d):
        raise NotASessionError(f"{d} is not an NYSE session")
    return d


def previous_session(day: dt.date | str) -> dt.date:
    d = as_date(day) - dt.timedelta(days=1)
    while not is_session(d):
        d -= dt.timedelta(days=1)
    return d


def next_session(day: dt.date | str) -> dt.date:
    d = as_date(day) + dt.timedelta(days=1)
    while not is_session(d):
        d += dt.timedelta(days=1)
    return d


# --- settlement calendar ----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def bank_only_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(d for rule in BANK_ONLY_HOLIDAYS if (d := rule(year)) is not None)


@lru_cache(maxsize=4096)
def is_settlement_day(day: dt.date | str) -> bool:
    d = as_date(day)
    if d.weekday() >= 5:
        return False
    if d in bank_only_holidays(d.year):
        return False
    return is_session(d)  # a weekday NYSE closure is a DTC closure too (design inference, domain doc §7)


def previous_settlement_day(day: dt.date | str) -> dt.date:
    """The last settlement day strictly before `day` (walks back over weekends and bank holidays)."""
    d = as_date(day) - dt.timedelta(days=1)
    while not is_settlement_day(d):
        d -= dt.timedelta(days=1)
    return d


def settlement_day_on_or_before(day: dt.date | str) -> dt.date:
    d = as_date(day)
    return d if is_settlement_day(d) else previous_settlement_day(d)


def add_settlement_days(day: dt.date | str, n: int) -> dt.date:
    d = as_date(day)
    step = 1 if n >= 0 else -1
    left = abs(n)
    while left:
        d += dt.timedelta(days=step)
        if is_settlement_day(d):
            left -= 1
    return d


def settlement_date(trade_date: dt.date | str) -> dt.date:
    """T+1 on the settlement calendar (a trade on the day before Veterans Day settles the day after it)."""
    return add_settlement_days(trade_date, SETTLEMENT_CYCLE_DAYS)


def business_days_between(start: dt.date | str, end: dt.date | str) -> int:
    """Settlement days in (start, end]: 0 for the same day, negative if end is before start."""
    a, b = as_date(start), as_date(end)
    if b < a:
        return -business_days_between(b, a)
    n = 0
    d = a
    while d < b:
        d += dt.timedelta(days=1)
        if is_settlement_day(d):
            n += 1
    return n


def session_open(day: dt.date | str) -> dt.datetime:
    """The beginning of regular trading hours as an aware UTC datetime: 09:30 ET (early-close days too)."""
    d = require_session(day)
    opened = _xnys().session_open(d.isoformat())
    return dt.datetime.fromtimestamp(opened.timestamp(), dt.UTC)


def session_close(day: dt.date | str) -> dt.datetime:
    """The session's close as an aware UTC datetime: 16:00 ET, or 13:00 ET on early-close days."""
    d = require_session(day)
    close = _xnys().session_close(d.isoformat())
    return dt.datetime.fromtimestamp(close.timestamp(), dt.UTC)


def in_session_window(day: dt.date | str, when: dt.datetime, after_close: dt.timedelta) -> bool:
    """True until `after_close` past the session's close: session-bound schedules (bp-refresh's 5-minute
    slots, cron'd to 16:05 ET) stop early on early-close days instead of running against a closed market."""
    return when <= session_close(day) + after_close
