from __future__ import annotations

import datetime as dt

from flows.calendars import in_session_window, session_close

FIVE = dt.timedelta(minutes=5)


def test_session_close_when_early_close_day_then_13_00_new_york() -> None:
    # 2026-11-27, the day after Thanksgiving, closes at 13:00 ET (18:00 UTC).
    assert session_close("2026-11-27") == dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)
    assert session_close("2026-11-20") == dt.datetime(2026, 11, 20, 21, 0, tzinfo=dt.UTC)


def test_window_when_slot_after_an_early_close_then_outside_and_normal_day_inside() -> None:
    slot = dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)  # 15:00 ET
    assert not in_session_window("2026-11-27", slot, FIVE)
    assert in_session_window("2026-11-20", dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC), FIVE)
    assert in_session_window("2026-11-27", dt.datetime(2026, 11, 27, 18, 5, tzinfo=dt.UTC), FIVE)
