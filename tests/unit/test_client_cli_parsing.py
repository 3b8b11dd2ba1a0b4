"""corectl's pure parsing: scopes, --until / --since times (New York at the edge), KEY=VALUE."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core_bridge.cli.common import parse_assignments, parse_since, parse_until, scope_of

NY = ZoneInfo("America/New_York")
# 2026-11-20 10:00 New York (EST, UTC-5)
NOW = int(datetime(2026, 11, 20, 10, 0, tzinfo=NY).timestamp()) * 1_000_000_000


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((True, None, None, None), ("firm", None)),
        ((False, "PROP01", None, None), ("account", "PROP01")),
        ((False, None, "aapl", None), ("symbol", "AAPL")),
        ((False, None, None, "nsdq"), ("venue", "NSDQ")),
    ],
)
def test_scope_of_when_one_scope_then_scope_and_key(args: tuple, expected: tuple) -> None:
    assert scope_of(*args) == expected


@pytest.mark.parametrize(
    "args",
    [(False, None, None, None), (True, "PROP01", None, None), (False, "PROP01", "AAPL", None),
     (False, None, None, "BATS")],
)
def test_scope_of_when_none_or_several_or_unknown_venue_then_value_error(args: tuple) -> None:
    with pytest.raises(ValueError):
        scope_of(*args)


def test_parse_until_when_time_of_day_then_today_in_new_york() -> None:
    assert parse_until("15:30", NOW) == int(datetime(2026, 11, 20, 15, 30, tzinfo=NY).timestamp()) * 10**9


def test_parse_until_when_relative_then_added_to_now() -> None:
    assert parse_until("+30m", NOW) == NOW + 30 * 60 * 10**9
    assert parse_until("2h", NOW) == NOW + 2 * 3600 * 10**9


def test_parse_until_when_iso_with_and_without_zone_then_exact_instant() -> None:
    assert parse_until("2026-11-20T20:00:00Z", NOW) == int(datetime(2026, 11, 20, 15, 0, tzinfo=NY).timestamp()) * 10**9
    assert parse_until("2026-11-20T15:00", NOW) == int(datetime(2026, 11, 20, 15, 0, tzinfo=NY).timestamp()) * 10**9


@pytest.mark.parametrize("text", ["09:00", "-5m", "2026-11-19T12:00", "25:00", "tomorrow"])
def test_parse_until_when_past_or_garbage_then_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="--until"):
        parse_until(text, NOW)


def test_parse_since_when_relative_today_or_date_then_instant() -> None:
    assert parse_since("30m", NOW) == NOW - 30 * 60 * 10**9
    assert parse_since("today", NOW) == int(datetime(2026, 11, 20, tzinfo=NY).timestamp()) * 10**9
    assert parse_since("2026-11-19", NOW) == int(datetime(2026, 11, 19, tzinfo=NY).timestamp()) * 10**9


def test_parse_since_when_garbage_then_value_error() -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since("last week", NOW)


def test_parse_assignments_when_pairs_then_dict_and_when_bad_then_error() -> None:
    assert parse_assignments(["max_order_qty=5000", "max-order-notional = 1e6"]) == {
        "max_order_qty": "5000", "max_order_notional": "1e6"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignments(["max_order_qty"])
