"""Exact value encodings for CAT JSON: fixed-point prices as decimal literals, ET dates, firmROEIDs.

Prices never pass through a float: the PRICE_SCALE integer becomes decimal text ("230.05", "0.0001")
which is embedded into the JSON as a raw number literal with `orjson.Fragment`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import orjson

from core_bridge.protocol import from_fixed

NY = ZoneInfo("America/New_York")
_HOUR_NS = 3_600_000_000_000
_DATE_CACHE: dict[int, int] = {}
_PRICE_CACHE: dict[int, orjson.Fragment] = {}


def price_literal(value: int) -> orjson.Fragment:
    """The price as a raw JSON number literal, exact decimal text from the protocol's `from_fixed`
    ("230.05", "0.0001", "10"); cached, as a day has few distinct prices."""
    frag = _PRICE_CACHE.get(value)
    if frag is None:
        if len(_PRICE_CACHE) > 200_000:
            _PRICE_CACHE.clear()
        frag = _PRICE_CACHE[value] = orjson.Fragment(from_fixed(value).encode())
    return frag


def et_date_int(ts_ns: int) -> int:
    """YYYYMMDD of a UTC-ns instant in America/New_York (CAT's event date)."""
    hour = ts_ns // _HOUR_NS  # ET offsets change on the hour, so one lookup per UTC hour is exact
    d = _DATE_CACHE.get(hour)
    if d is None:
        local = dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC).astimezone(NY)
        d = _DATE_CACHE[hour] = local.year * 10000 + local.month * 100 + local.day
    return d


def date_int(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def firm_roe_id(ts_ns: int, epoch: int, seq: int, k: int) -> str:
    """`<EventDate>_<id>`: derived from the drop-copy position (epoch, seq) and the record's index within
    that event, so it is unique per date and identical on every regeneration."""
    return f"{et_date_int(ts_ns)}_{epoch}.{seq}.{k}"


def dumps(record: dict[str, object]) -> bytes:
    return orjson.dumps(record)
