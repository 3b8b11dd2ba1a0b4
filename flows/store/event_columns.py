"""Drop-copy records (protocol.EVENT_DTYPE) as column arrays for bulk loading, decoded with numpy.

Why a module of its own: the loader's speed comes from never touching a record in Python. Everything here
works on whole arrays: checking, ordering, de-duplicating, deriving the New York trade date.

Column kinds: int2 / int4 / int8 (signed, as stored), date (int days since 1970-01-01), text (ASCII,
NUL-padded `S8` on the wire; stored without the padding).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventType
from flows.errors import EventLoadError

NEW_YORK = ZoneInfo("America/New_York")
INT64_MAX = int(np.iinfo(np.int64).max)
TEXT_FIELDS = ("account", "symbol", "session")
U8_FIELDS = tuple(name for name in EVENT_DTYPE.names or () if EVENT_DTYPE[name] == np.dtype("<u8"))
_HOUR_NS = 3_600_000_000_000
_MAX_LUT_HOURS = 24 * 366 * 2  # a batch spanning more than two years of hours falls back to np.unique

# (column, source field, kind). Order = column order in the table and in COPY/INSERT statements.
EVENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("epoch", "epoch", "int8"),
    ("seq", "seq", "int8"),
    ("trade_date", "trade_date", "date"),
    ("ts_ns", "ts_ns", "int8"),
    ("etype", "etype", "int2"),
    ("side", "side", "int2"),
    ("venue", "venue", "int2"),
    ("flags", "flags", "int2"),
    ("reason", "reason", "int4"),
    ("ord_type", "ord_type", "int2"),
    ("tif", "tif", "int2"),
    ("account", "account", "text"),
    ("symbol", "symbol", "text"),
    ("session", "session", "text"),
    ("qty", "qty", "int8"),
    ("leaves_qty", "leaves_qty", "int8"),
    ("last_qty", "last_qty", "int8"),
    ("price", "price", "int8"),
    ("last_px", "last_px", "int8"),
    ("order_id", "order_id", "int8"),
    ("orig_order_id", "orig_order_id", "int8"),
    ("routed_id", "routed_id", "int8"),
    ("venue_order_id", "venue_order_id", "int8"),
    ("exec_id", "exec_id", "int8"),
    ("clordid", "clordid", "int8"),
)

# An execution is an ORDER_FILLED event seen from the fill's side: qty/price are the event's last_qty/last_px.
EXECUTION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("epoch", "epoch", "int8"),
    ("seq", "seq", "int8"),
    ("trade_date", "trade_date", "date"),
    ("ts_ns", "ts_ns", "int8"),
    ("account", "account", "text"),
    ("symbol", "symbol", "text"),
    ("side", "side", "int2"),
    ("venue", "venue", "int2"),
    ("qty", "last_qty", "int8"),
    ("price", "last_px", "int8"),
    ("leaves_qty", "leaves_qty", "int8"),
    ("order_id", "order_id", "int8"),
    ("venue_order_id", "venue_order_id", "int8"),
    ("exec_id", "exec_id", "int8"),
)

FILL = int(EventType.ORDER_FILLED)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_records(recs: np.ndarray) -> None:
    """Refuse the batch if any record cannot be stored exactly; the error names the first record at fault."""
    for name in U8_FIELDS:
        bad = recs[name] > INT64_MAX
        if bad.any():
            i = _first(bad)
            raise EventLoadError(f"value {int(recs[name][i])} exceeds the 64-bit signed column range",
                                 int(recs["epoch"][i]), int(recs["seq"][i]), name)
    bad = recs["seq"] == 0
    if bad.any():
        i = _first(bad)
        raise EventLoadError("seq 0 (sequences are 1-based)", int(recs["epoch"][i]), 0, "seq")
    for name in TEXT_FIELDS:
        codes = text_codes(recs[name])
        lens = text_lengths(recs[name])
        # ASCII only, and NULs only as trailing padding (an inner NUL would silently shorten the text).
        bad = (codes & np.uint64(0x8080808080808080)) != 0
        for k in range(7):
            bad |= (((codes >> np.uint64(8 * k)) & np.uint64(0xFF)) == 0) & (lens > k)
        if bad.any():
            i = _first(bad)
            raise EventLoadError(f"not NUL-padded ASCII: {codes[i].tobytes()!r}",
                                 int(recs["epoch"][i]), int(recs["seq"][i]), name)


def text_codes(column: np.ndarray) -> np.ndarray:
    """An S8 column as one little-endian uint64 per row (byte k of the text = bits 8k..8k+7)."""
    return np.ascontiguousarray(column).view("<u8")


def text_lengths(column: np.ndarray) -> np.ndarray:
    """Bytes up to and including the last non-NUL byte (the text length once padding is dropped)."""
    codes = text_codes(column)
    lens = np.zeros(len(codes), dtype=np.int32)
    for k in range(8):
        lens += codes >= np.uint64(1 << (8 * k))
    return lens


def in_order(recs: np.ndarray) -> np.ndarray:
    """Records sorted by (epoch, seq) with exact duplicates dropped; conflicting duplicates are refused."""
    if len(recs) < 2:
        return recs
    epoch, seq = recs["epoch"], recs["seq"]
    ascending = (epoch[1:] > epoch[:-1]) | ((epoch[1:] == epoch[:-1]) & (seq[1:] > seq[:-1]))
    if ascending.all():
        return recs
    recs = recs[np.lexsort((recs["seq"], recs["epoch"]))]
    epoch, seq = recs["epoch"], recs["seq"]
    dup = (epoch[1:] == epoch[:-1]) & (seq[1:] == seq[:-1])
    if not dup.any():
        return recs
    whole = recs.view(np.dtype((np.void, EVENT_DTYPE.itemsize)))
    differs = dup & (whole[1:] != whole[:-1])
    if differs.any():
        i = _first(differs) + 1
        raise EventLoadError("two different records with the same sequence", int(epoch[i]), int(seq[i]))
    return recs[np.concatenate(([True], ~dup))]


def trade_days(ts_ns: np.ndarray) -> np.ndarray:
    """New York calendar date of each UTC-ns timestamp, as int32 days since 1970-01-01.

    New York's UTC offset is a whole number of hours and changes on UTC hour boundaries, so the local date
    is constant within a UTC hour: compute it once per distinct hour and look it up for every record.
    """
    if len(ts_ns) == 0:
        return np.zeros(0, dtype=np.int32)
    hours = ts_ns.astype(np.int64) // _HOUR_NS
    lo, hi = int(hours.min()), int(hours.max())
    if hi - lo <= _MAX_LUT_HOURS:
        table = np.array([_ny_day(h) for h in range(lo, hi + 1)], dtype=np.int32)
        return table[hours - lo]
    uniq, inverse = np.unique(hours, return_inverse=True)
    return np.array([_ny_day(int(h)) for h in uniq], dtype=np.int32)[inverse]


def _ny_day(hour: int) -> int:
    local = dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC).astimezone(NEW_YORK)
    return local.date().toordinal() - dt.date(1970, 1, 1).toordinal()


def source_arrays(recs: np.ndarray) -> dict[str, np.ndarray]:
    """Every source field by name, plus the derived `trade_date` (days since 1970-01-01)."""
    out = {name: recs[name] for name in EVENT_DTYPE.names or ()}
    out["trade_date"] = trade_days(recs["ts_ns"])
    return out


def fills(recs: np.ndarray) -> np.ndarray:
    return recs[recs["etype"] == FILL]
