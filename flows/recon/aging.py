"""Break aging in NYSE business days (sessions), vectorised over the distinct dates present.

A break first seen on Friday and still open on Monday is 1 business day old; a holiday in between does not
count. The trading calendar (not the settlement one) is used: recon runs once per session.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from flows import calendars


def _holidays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays in [start, end] on which NYSE is closed (busday_count skips weekends by itself)."""
    out = []
    d = start
    while d <= end:
        if d.weekday() < 5 and not calendars.is_session(d):
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def age_business_days(first_seen: pd.Series, as_of: str) -> np.ndarray:
    """Sessions after `first_seen` up to and including `as_of` (0 on the day a break is first seen)."""
    if len(first_seen) == 0:
        return np.zeros(0, dtype=np.int64)
    uniq = pd.unique(first_seen.astype("str"))
    end = dt.date.fromisoformat(as_of)
    start = min(dt.date.fromisoformat(str(u)) for u in uniq)
    lo, hi = min(start, end), max(start, end)
    hol = np.array(_holidays(lo, hi), dtype="datetime64[D]")
    starts = np.array([np.datetime64(str(u)) for u in uniq], dtype="datetime64[D]") + 1
    ages = np.busday_count(starts, np.datetime64(end) + 1, holidays=hol)
    lookup = dict(zip(uniq, np.maximum(ages, 0).astype(np.int64), strict=True))
    return first_seen.astype("str").map(lookup).to_numpy(dtype=np.int64)
