"""Trading vs settlement calendars: bank-only holidays, T+1, walking back for threshold lists."""

from __future__ import annotations

import datetime as dt

import pytest

from flows import calendars as cal
from flows.errors import NotASessionError

D = dt.date


@pytest.mark.parametrize(("day", "session", "settlement"), [
    (D(2026, 11, 11), True, False),  # Veterans Day: NYSE open, banks/DTC closed
    (D(2026, 10, 12), True, False),  # Columbus Day
    (D(2026, 11, 26), False, False),  # Thanksgiving
    (D(2026, 11, 21), False, False),  # Saturday
    (D(2026, 11, 12), True, True),
    (D(2025, 1, 9), False, False),  # NYSE special closure (day of mourning) from exchange_calendars
    (D(2027, 11, 11), True, False),  # Veterans Day on a Thursday
])
def test_calendars_when_asked_then_trading_and_settlement_days_differ_on_bank_holidays(
    day: dt.date, session: bool, settlement: bool
) -> None:
    assert cal.is_session(day) is session
    assert cal.is_settlement_day(day) is settlement


def test_veterans_day_when_on_saturday_then_not_observed_by_banks() -> None:
    assert D(2028, 11, 11).weekday() == 5
    assert D(2028, 11, 10) not in cal.bank_only_holidays(2028)
    assert cal.bank_only_holidays(2028) == frozenset({D(2028, 10, 9)})


@pytest.mark.parametrize(("trade", "settle"), [
    (D(2026, 11, 10), D(2026, 11, 12)),  # T+1 skips Veterans Day
    (D(2026, 11, 11), D(2026, 11, 12)),  # a trade on Veterans Day settles the next bank day
    (D(2026, 11, 13), D(2026, 11, 16)),  # Friday -> Monday
    (D(2026, 11, 25), D(2026, 11, 27)),  # over Thanksgiving
])
def test_settlement_date_when_trade_date_given_then_t_plus_1_on_settlement_calendar(trade: dt.date,
                                                                                    settle: dt.date) -> None:
    assert cal.settlement_date(trade) == settle


def test_previous_settlement_day_when_after_bank_holiday_then_walks_back() -> None:
    assert cal.previous_settlement_day(D(2026, 11, 12)) == D(2026, 11, 10)
    assert cal.previous_settlement_day(D(2026, 11, 16)) == D(2026, 11, 13)
    assert cal.previous_session(D(2026, 11, 12)) == D(2026, 11, 11)


def test_business_days_between_when_spanning_holidays_then_counts_settlement_days() -> None:
    assert cal.business_days_between(D(2026, 11, 10), D(2026, 11, 13)) == 2
    assert cal.business_days_between(D(2026, 11, 13), D(2026, 11, 10)) == -2
    assert cal.business_days_between(D(2026, 11, 10), D(2026, 11, 10)) == 0


def test_require_session_when_holiday_then_not_a_session_error() -> None:
    with pytest.raises(NotASessionError):
        cal.require_session(D(2026, 11, 26))
    assert cal.require_session("2026-11-11") == D(2026, 11, 11)
