from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hw.twin.session_clock import ENV, event_clock_offset_ns


def test_offset_when_no_session_date_then_zero() -> None:
    assert event_clock_offset_ns(10**18, env={}) == 0


def test_offset_when_session_date_set_then_events_start_at_the_open_in_new_york() -> None:
    now = 1_763_800_000_000_000_000
    off = event_clock_offset_ns(now, env={ENV: "2026-11-20"})
    stamped = dt.datetime.fromtimestamp((now + off) / 1e9, ZoneInfo("America/New_York"))
    assert (stamped.date(), stamped.hour, stamped.minute) == (dt.date(2026, 11, 20), 9, 30)
