"""The journal -> store loader on SQLite and PostgreSQL: exact rows, idempotent by (epoch, seq), all or nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from core_bridge.journal.writer import Journal
from core_bridge.protocol import EventType, new_events, to_fixed
from flows.errors import EventLoadError
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.event_columns import EVENT_COLUMNS, EXECUTION_COLUMNS
from flows.store.loader import load_events, load_sealed_segments
from flows.store.models import Execution, OrderEvent
from flows.store.reader import read_events

NY = ZoneInfo("America/New_York")
INT64_MAX = 2**63 - 1
# 2026-11-01 is the end of daylight time in New York: 06:00 UTC is 01:00 EST after 01:59 EDT.
DST_END_NS = int(dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def events(first_seq: int, n: int, epoch: int = 1, seed: int = 0) -> np.ndarray:
    """Varied records: every field non-trivial, text of every length 0..8, fills, extreme ids and prices."""
    rng = np.random.default_rng(seed + first_seq * 7919 + epoch)
    r = new_events(n)
    r["seq"] = np.arange(first_seq, first_seq + n, dtype=np.uint64)
    r["epoch"] = epoch
    # Around the DST change, so the New York trade date flips inside the batch.
    r["ts_ns"] = DST_END_NS - 5 * 3600 * 10**9 + rng.integers(0, 10 * 3600 * 10**9, n)
    r["etype"] = rng.choice([int(e) for e in EventType], n)
    r["side"] = rng.integers(1, 5, n)
    r["venue"] = rng.integers(0, 4, n)
    r["flags"] = rng.integers(0, 16, n)
    r["reason"] = rng.integers(0, 65536, n)
    r["ord_type"] = rng.integers(1, 3, n)
    r["tif"] = rng.integers(1, 3, n)
    words = np.array([b"", b"A", b"BRK.B", b"PROP01", b"GOOGL", b"ABCDEFGH", b"T", b"OUCH01"], dtype="S8")
    for name in ("account", "symbol", "session"):
        r[name] = words[rng.integers(0, len(words), n)]
    r["qty"] = rng.integers(0, 2**32, n, dtype=np.uint64)
    r["leaves_qty"] = rng.integers(0, 2**32, n, dtype=np.uint64)
    r["last_qty"] = rng.integers(0, 2**32, n, dtype=np.uint64)
    r["price"] = rng.integers(-(2**62), 2**62, n)
    r["last_px"] = to_fixed("0.0001")
    for name in ("order_id", "orig_order_id", "routed_id", "venue_order_id", "exec_id", "clordid"):
        r[name] = rng.integers(0, INT64_MAX, n, dtype=np.int64, endpoint=True).astype(np.uint64)
    r["order_id"][0] = INT64_MAX
    return r


def ny_date(ts_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).astimezone(NY).date()


def stored_events(engine: Engine) -> list[OrderEvent]:
    with session_scope(engine) as s:
        return list(s.scalars(select(OrderEvent).order_by(OrderEvent.epoch, OrderEvent.seq)))


def count(engine: Engine, model: type[OrderEvent] | type[Execution]) -> int:
    with session_scope(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_load_events_when_loaded_then_rows_equal_input_fields_exactly(engine: Engine) -> None:
    recs = events(1, 300)
    assert load_events(engine, recs) == 300
    rows = stored_events(engine)
    assert len(rows) == 300
    for rec, row in zip(recs, rows, strict=True):
        for col, field, kind in EVENT_COLUMNS:
            got = getattr(row, col)
            if kind == "text":
                assert got == rec[field].decode("ascii"), (col, int(rec["seq"]))
            elif kind == "date":
                assert got == ny_date(int(rec["ts_ns"])), int(rec["seq"])
            else:
                assert got == int(rec[field]), (col, int(rec["seq"]))
    assert {r.trade_date for r in rows} == {dt.date(2026, 10, 31), dt.date(2026, 11, 1)}
    assert rows[0].order_id == INT64_MAX


def test_load_events_when_loaded_twice_then_every_row_stored_once(engine: Engine) -> None:
    recs = events(1, 200)
    assert load_events(engine, recs) == 200
    assert load_events(engine, recs) == 0
    assert count(engine, OrderEvent) == 200
    assert count(engine, Execution) == int((recs["etype"] == EventType.ORDER_FILLED).sum())


def test_load_events_when_ranges_overlap_or_fill_holes_then_only_missing_rows_inserted(engine: Engine) -> None:
    recs = events(1, 100)
    assert load_events(engine, recs[:60]) == 60
    assert load_events(engine, recs[40:]) == 40  # 41..60 already there
    other = events(1, 100, epoch=2)
    assert load_events(engine, np.concatenate([other[:30], other[70:]])) == 60
    assert load_events(engine, other) == 40  # the hole 31..70
    rows = stored_events(engine)
    assert [(r.epoch, r.seq) for r in rows] == [(1, s) for s in range(1, 101)] + [(2, s) for s in range(1, 101)]
    fills = int((recs["etype"] == EventType.ORDER_FILLED).sum() + (other["etype"] == EventType.ORDER_FILLED).sum())
    assert count(engine, Execution) == fills


def test_load_events_when_input_unsorted_with_exact_duplicates_then_stored_once_each(engine: Engine) -> None:
    a, b = events(1, 50, epoch=3), events(1, 50, epoch=2)
    mixed = np.concatenate([a[25:], b, a[:30], b[10:20]])
    assert load_events(engine, mixed) == 100
    assert [(r.epoch, r.seq) for r in stored_events(engine)] == [(2, s) for s in range(1, 51)] + [
        (3, s) for s in range(1, 51)
    ]


def test_load_events_when_fills_present_then_executions_derived_from_them(engine: Engine) -> None:
    recs = events(1, 400)
    load_events(engine, recs)
    fills = recs[recs["etype"] == EventType.ORDER_FILLED]
    assert len(fills) > 10
    with session_scope(engine) as s:
        rows = list(s.scalars(select(Execution).order_by(Execution.epoch, Execution.seq)))
    assert len(rows) == len(fills)
    for rec, row in zip(fills, rows, strict=True):
        for col, field, kind in EXECUTION_COLUMNS:
            got = getattr(row, col)
            if kind == "text":
                assert got == rec[field].decode("ascii")
            elif kind == "date":
                assert got == ny_date(int(rec["ts_ns"]))
            else:
                assert got == int(rec[field]), col
    assert rows[0].qty == int(fills[0]["last_qty"]) and rows[0].price == int(fills[0]["last_px"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("exec_id", np.uint64(2**63), "64-bit"),
        ("symbol", b"AB\x00CD", "NUL-padded ASCII"),
        ("account", b"PR\xc3\x89", "NUL-padded ASCII"),
        ("seq", np.uint64(0), "1-based"),
    ],
)
def test_load_events_when_a_record_is_unstorable_then_whole_batch_refused_naming_it(
    engine: Engine, field: str, value: object, message: str
) -> None:
    recs = events(1, 50)
    recs[17][field] = value
    with pytest.raises(EventLoadError, match=message) as info:
        load_events(engine, recs)
    assert info.value.field == field
    assert info.value.seq == (0 if field == "seq" else 18)
    assert count(engine, OrderEvent) == 0 and count(engine, Execution) == 0


def test_load_events_when_same_seq_carries_different_records_then_refused(engine: Engine) -> None:
    recs = events(1, 20)
    twin = recs[5:6].copy()
    twin["qty"] += 1
    with pytest.raises(EventLoadError, match="same sequence") as info:
        load_events(engine, np.concatenate([recs, twin]))
    assert (info.value.epoch, info.value.seq) == (1, 6)
    assert count(engine, OrderEvent) == 0


def test_load_events_when_wrong_dtype_or_empty_then_type_error_or_nothing(engine: Engine) -> None:
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        load_events(engine, np.zeros(3, dtype=np.int64))
    assert load_events(engine, new_events(0)) == 0


def test_load_sealed_segments_when_rerun_then_skips_loaded_segments_and_ignores_open_one(
    engine: Engine, tmp_path: Path
) -> None:
    jdir = tmp_path / "journal"
    first, second, live = events(1, 120), events(121, 80), events(201, 10)
    j = Journal.open(jdir, commit_records=16)
    try:
        j.append(first)
        j.commit()
        j.seal()
        j.append(second)
        j.commit()
        j.seal()
        j.append(live)  # still open: not sealed, not loaded
        j.commit()
    finally:
        j.close()
    done = load_sealed_segments(engine, jdir)
    assert (done.segments, done.skipped, done.rows) == (2, 0, 200)
    again = load_sealed_segments(engine, jdir)
    assert (again.segments, again.skipped, again.rows) == (2, 2, 0)
    rows = stored_events(engine)
    assert [r.seq for r in rows] == list(range(1, 201))


def test_load_events_when_two_loaders_race_on_overlapping_ranges_then_each_row_stored_once(
    engine: Engine,
) -> None:
    import threading

    recs = events(1, 3000)
    parts = [recs[:2000], recs[1000:], recs[500:2500], recs]
    inserted: list[int] = []
    errors: list[BaseException] = []

    def run(part: np.ndarray) -> None:
        try:
            inserted.append(load_events(engine, part))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(inserted) == 3000
    assert count(engine, OrderEvent) == 3000
    assert count(engine, Execution) == int((recs["etype"] == EventType.ORDER_FILLED).sum())


def test_read_events_when_loaded_then_returns_the_same_records_by_trade_date(engine: Engine) -> None:
    recs = events(1, 250)
    load_events(engine, recs)
    back = read_events(engine)
    assert back.dtype == recs.dtype and back.tobytes() == recs.tobytes()
    days = np.array([ny_date(int(t)) for t in recs["ts_ns"]])
    one = read_events(engine, trade_date=dt.date(2026, 11, 1))
    assert one.tobytes() == recs[days == dt.date(2026, 11, 1)].tobytes()
    assert len(read_events(engine, epoch=9)) == 0


def test_load_events_when_twin_simulates_a_day_then_events_and_fills_stored_once(engine: Engine) -> None:
    from hw.twin.market import simulate_day

    day = simulate_day("2026-11-20", 200, seed=11).events
    assert load_events(engine, day) == len(day)
    assert load_events(engine, day) == 0
    fills = day[day["etype"] == EventType.ORDER_FILLED]
    assert len(fills) > 0 and count(engine, Execution) == len(fills)
    back = read_events(engine, trade_date=dt.date(2026, 11, 20))
    assert back.tobytes() == day.tobytes()
