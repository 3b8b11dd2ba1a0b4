"""Pure parts of the store loader: column specs vs models, trade dates, text handling, the COPY BINARY stream."""

from __future__ import annotations

import datetime as dt
import struct
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import BigInteger, Date, Integer, SmallInteger, String

from core_bridge.protocol import EVENT_DTYPE, new_events
from flows.store.event_columns import EVENT_COLUMNS, EXECUTION_COLUMNS, in_order, text_lengths, trade_days
from flows.store.models import Execution, OrderEvent
from flows.store.pg_copy import HEADER, PG_DATE_OFFSET, TRAILER, binary_copy_chunks

NY = ZoneInfo("America/New_York")
SQL_KIND = {BigInteger: "int8", Integer: "int4", SmallInteger: "int2", Date: "date", String: "text"}


@pytest.mark.parametrize(("spec", "model"), [(EVENT_COLUMNS, OrderEvent), (EXECUTION_COLUMNS, Execution)])
def test_column_specs_when_compared_to_models_then_every_column_and_type_matches(spec: tuple, model: type) -> None:
    table = model.__table__
    assert [c for c, _f, _k in spec] == [c.name for c in table.columns]
    for col, field, kind in spec:
        assert SQL_KIND[type(table.c[col].type)] == kind, col
        assert field == "trade_date" or field in (EVENT_DTYPE.names or ()), field


def test_trade_days_when_hours_span_both_dst_changes_then_equal_new_york_dates() -> None:
    start = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) * 10**9
    ts = start + np.arange(0, 366 * 24 * 4) * (15 * 60 * 10**9) + 123  # every quarter hour of a year
    got = trade_days(ts)
    epoch = dt.date(1970, 1, 1)
    for i in range(0, len(ts), 7):  # a sample of every 7th, still all around both DST changes
        want = dt.datetime.fromtimestamp(int(ts[i]) // 10**9, tz=dt.UTC).astimezone(NY).date()
        assert epoch + dt.timedelta(days=int(got[i])) == want


def test_text_lengths_when_padded_to_eight_then_length_of_text() -> None:
    col = np.array([b"", b"A", b"AB", b"ABC", b"ABCD", b"ABCDE", b"ABCDEF", b"ABCDEFG", b"ABCDEFGH"], dtype="S8")
    assert text_lengths(col).tolist() == list(range(9))


def test_in_order_when_already_sorted_then_same_array_returned() -> None:
    r = new_events(5)
    r["seq"] = np.arange(1, 6)
    assert in_order(r) is r


def _parse_copy(stream: bytes, kinds: list[str]) -> list[tuple[object, ...]]:
    """A minimal reader of PostgreSQL's COPY BINARY format, to check what we write field by field."""
    assert stream.startswith(HEADER) and stream.endswith(TRAILER)
    pos, rows = len(HEADER), []
    while True:
        (nf,) = struct.unpack_from(">h", stream, pos)
        pos += 2
        if nf == -1:
            break
        assert nf == len(kinds)
        row: list[object] = []
        for kind in kinds:
            (size,) = struct.unpack_from(">i", stream, pos)
            pos += 4
            raw = stream[pos:pos + size]
            pos += size
            if kind == "text":
                row.append(raw.decode("ascii"))
            else:
                fmt = {"int2": ">h", "int4": ">i", "int8": ">q", "date": ">i"}[kind]
                assert size == struct.calcsize(fmt)
                row.append(struct.unpack(fmt, raw)[0])
        rows.append(tuple(row))
    assert pos == len(stream)
    return rows


@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_binary_copy_chunks_when_parsed_back_then_every_value_round_trips(chunk_rows: int) -> None:
    texts = np.array([b"AAPL", b"AAPL", b"AAPL", b"", b"ABCDEFGH", b"T", b"MSFT", b"MSFT"], dtype="S8")
    n = len(texts)
    ints = np.array([0, 1, -1, 2**63 - 1, -(2**63), 42, 7, 9], dtype=np.int64)
    small = np.arange(n, dtype=np.uint8) * 30
    days = np.arange(n, dtype=np.int32) + 20_000
    cols = [("int8", ints), ("text", texts), ("int2", small), ("date", days), ("int4", small.astype(np.uint16) * 300),
            ("text", texts[::-1].copy())]
    stream = b"".join(binary_copy_chunks(cols, chunk_rows=chunk_rows))
    rows = _parse_copy(stream, [k for k, _v in cols])
    want = [
        (int(ints[i]), texts[i].decode(), int(small[i]), int(days[i]) - PG_DATE_OFFSET, int(small[i]) * 300,
         texts[::-1][i].decode())
        for i in range(n)
    ]
    assert rows == want
