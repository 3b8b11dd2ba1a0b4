"""Load drop-copy records from the journal into `order_events`, and derive `executions` from the fills.

Idempotent by (epoch, seq): records already in the store are skipped, so re-running a load (or loading
overlapping ranges) stores every record exactly once. One call is one transaction: a batch is stored whole
or not at all. Concurrent loaders of the same sequence range are serialised, so the "what is already there"
check and the insert cannot interleave: on PostgreSQL by transaction advisory locks on the batch's blocks of
2^20 sequence numbers per epoch (taken in order, so loaders never deadlock), which lets loaders of other
ranges (the partitions of a parallel load, `load_segments`) COPY at the same time; on SQLite by BEGIN
IMMEDIATE (one writer at a time).

Speed: records are decoded as numpy column arrays and go through the DBAPI connection (the ORM would cost
~25x). PostgreSQL gets binary COPY streams built by numpy (pg_copy.py) straight into both tables, no
staging table: the "already stored" rows are filtered out first, under the lock. SQLite gets one
`executemany` for the events and derives the executions inside SQLite (INSERT ... SELECT), in one
transaction. Measured by bench/bench_store_load.py against bare COPY / executemany of the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from core_bridge.journal.segment import SegmentInfo
from core_bridge.protocol import EVENT_DTYPE
from flows.errors import StoreError
from flows.store.event_columns import (
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    FILL,
    check_records,
    fills,
    in_order,
    source_arrays,
    text_codes,
)
from flows.store.pg_copy import binary_copy_chunks

EVENTS_TABLE = "order_events"
EXECUTIONS_TABLE = "executions"


@dataclass(frozen=True)
class SegmentsLoaded:
    segments: int  # sealed segments found
    skipped: int  # already fully in the store (not read)
    rows: int  # order events inserted


def load_events(engine: Engine, records: np.ndarray) -> int:
    """Store the records not yet in the store (by epoch, seq) and their executions; return events inserted.

    Raises TypeError for a wrong dtype and flows.errors.EventLoadError (naming the record and field) for
    records that cannot be stored exactly; nothing of that batch is stored then.
    """
    if records.dtype != EVENT_DTYPE:
        raise TypeError(f"records must have protocol.EVENT_DTYPE, got {records.dtype}")
    if len(records) == 0:
        return 0
    recs = in_order(records)
    check_records(recs)
    backend = engine.dialect.name
    if backend == "postgresql":
        return _load_postgresql(engine, recs)
    if backend == "sqlite":
        return _load_sqlite(engine, recs)
    raise StoreError(f"no bulk loader for database backend {backend!r}")


def pending_segments(engine: Engine, journal_dir: str | Path) -> tuple[list[SegmentInfo], int]:
    """(sealed segments not yet fully in the store, in journal order; how many sealed segments there are).
    A segment whose whole seq range is stored is left out without reading it."""
    from core_bridge.journal.reader import iter_sealed_segments

    todo: list[SegmentInfo] = []
    total = 0
    for info in iter_sealed_segments(journal_dir):
        total += 1
        if info.count and _stored_count(engine, info.epoch, info.first_seq, info.last_seq) != info.count:
            todo.append(info)
    return todo, total


def load_segments(engine: Engine, paths: Iterable[str | Path]) -> int:
    """Load these segments, one transaction each (a partition of a parallel load); returns rows inserted.
    Each is CRC- and sequence-checked by the journal reader (JournalCorruptError names file and record)."""
    from core_bridge.journal.reader import read_segment

    return sum(load_events(engine, read_segment(path)) for path in paths)


def load_sealed_segments(engine: Engine, journal_dir: str | Path) -> SegmentsLoaded:
    """Load every sealed journal segment not yet fully in the store, one transaction per segment, here.

    The seal chain is `core_bridge.journal.verify`'s job, which the end-of-day flow runs before loading.
    """
    todo, total = pending_segments(engine, journal_dir)
    rows = load_segments(engine, [info.path for info in todo])
    return SegmentsLoaded(total, total - len(todo), rows)


# --- what is already stored ------------------------------------------------------------------------------


def _stored_count(engine: Engine, epoch: int, first_seq: int, last_seq: int) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM {EVENTS_TABLE} WHERE epoch = :e AND seq BETWEEN :a AND :b"  # noqa: S608
        return int(conn.execute(text(sql), {"e": epoch, "a": first_seq, "b": last_seq}).scalar_one())


def _epoch_ranges(recs: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(epoch, start, stop) index runs of one epoch in (epoch, seq)-sorted records."""
    epoch = recs["epoch"]
    starts = np.flatnonzero(np.concatenate(([True], epoch[1:] != epoch[:-1])))
    stops = np.append(starts[1:], len(recs))
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        yield int(epoch[a]), a, b


def _new_mask(cur: Any, recs: np.ndarray, param: str) -> np.ndarray | None:
    """Boolean mask of records not yet stored, or None when all of them are new (the common case)."""
    keep: np.ndarray | None = None
    count_sql = f"SELECT count(*) FROM {EVENTS_TABLE} WHERE epoch = {param} AND seq BETWEEN {param} AND {param}"  # noqa: S608
    seqs_sql = f"SELECT seq FROM {EVENTS_TABLE} WHERE epoch = {param} AND seq BETWEEN {param} AND {param}"  # noqa: S608
    for epoch, a, b in _epoch_ranges(recs):
        seq = recs["seq"][a:b]
        lo, hi = int(seq[0]), int(seq[-1])
        cur.execute(count_sql, (epoch, lo, hi))
        stored = int(cur.fetchone()[0])
        if stored == 0:
            continue
        if keep is None:
            keep = np.ones(len(recs), dtype=bool)
        if stored == hi - lo + 1:  # the whole range is there
            keep[a:b] = False
            continue
        cur.execute(seqs_sql, (epoch, lo, hi))
        have = np.fromiter((row[0] for row in cur.fetchall()), dtype=np.uint64, count=stored)
        keep[a:b] = ~np.isin(seq, have, assume_unique=True)
    return keep


# --- PostgreSQL ------------------------------------------------------------------------------------------

LOCK_BLOCK_BITS = 20  # a range lock covers 2^20 sequence numbers of one epoch


def range_lock_keys(recs: np.ndarray) -> list[int]:
    """The advisory-lock keys of the (epoch, seq-block)s that (epoch, seq)-sorted `recs` touch, ascending:
    (epoch << 32 | block) in the signed 64-bit key space PostgreSQL's advisory locks take."""
    keys: set[int] = set()
    for epoch, a, b in _epoch_ranges(recs):
        lo, hi = int(recs["seq"][a]) >> LOCK_BLOCK_BITS, int(recs["seq"][b - 1]) >> LOCK_BLOCK_BITS
        keys.update(((epoch & 0x7FFF_FFFF) << 32) | (blk & 0xFFFF_FFFF) for blk in range(lo, hi + 1))
    return sorted(keys)



def _copy_sql(table: str, columns: Iterable[tuple[str, str, str]]) -> str:
    return f"COPY {table} ({', '.join(c for c, _f, _k in columns)}) FROM STDIN (FORMAT BINARY)"


def _columns(arrays: dict[str, np.ndarray], spec: tuple[tuple[str, str, str], ...]) -> list[tuple[str, np.ndarray]]:
    return [(kind, arrays[field]) for _col, field, kind in spec]


def copy_records(cur: Any, table: str, spec: tuple[tuple[str, str, str], ...], recs: np.ndarray) -> None:
    """Binary-COPY `recs` into `table` with columns `spec` (a psycopg 3 cursor)."""
    if len(recs) == 0:
        return
    arrays = source_arrays(recs)
    with cur.copy(_copy_sql(table, spec)) as copy:
        for chunk in binary_copy_chunks(_columns(arrays, spec)):
            copy.write(chunk)


def _load_postgresql(engine: Engine, recs: np.ndarray) -> int:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        try:
            with conn.cursor() as cur:
                for key in range_lock_keys(recs):
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                keep = _new_mask(cur, recs, "%s")
                if keep is not None:
                    recs = recs[keep]
                copy_records(cur, EVENTS_TABLE, EVENT_COLUMNS, recs)
                copy_records(cur, EXECUTIONS_TABLE, EXECUTION_COLUMNS, fills(recs))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        raw.close()
    return len(recs)


# --- SQLite ----------------------------------------------------------------------------------------------


def _iso_dates(days: np.ndarray) -> list[str]:
    """int days since 1970 -> 'YYYY-MM-DD' (SQLAlchemy's SQLite Date format), one string per distinct day."""
    base = dt.date(1970, 1, 1).toordinal()
    lo, hi = int(days.min()), int(days.max())
    if hi - lo <= 1000:  # the usual case: one trading day, so a tiny table indexed by day offset
        table = np.array([dt.date.fromordinal(base + d).isoformat() for d in range(lo, hi + 1)], dtype=object)
        return list(table[days - lo])
    uniq, inverse = np.unique(days, return_inverse=True)
    table = np.array([dt.date.fromordinal(base + int(d)).isoformat() for d in uniq], dtype=object)
    return list(table[inverse])


def _texts(column: np.ndarray) -> list[str]:
    """S8 -> str, decoding each distinct value once (accounts, symbols and sessions repeat a lot)."""
    codes = text_codes(column)
    uniq, inverse = np.unique(codes, return_inverse=True)
    table = np.array([v.rstrip(b"\0").decode("ascii") for v in uniq.view("S8").tolist()], dtype=object)
    return list(table[inverse])


def _python_columns(recs: np.ndarray, spec: tuple[tuple[str, str, str], ...]) -> list[list[Any]]:
    arrays = source_arrays(recs)
    out: list[list[Any]] = []
    for _col, field, kind in spec:
        values = arrays[field]
        if kind == "text":
            out.append(_texts(values))
        elif kind == "date":
            out.append(_iso_dates(values))
        else:
            out.append(values.tolist())
    return out


def insert_records(cur: Any, table: str, spec: tuple[tuple[str, str, str], ...], recs: np.ndarray) -> None:
    """One executemany of `recs` into `table` (a sqlite3 cursor)."""
    if len(recs) == 0:
        return
    names = ", ".join(c for c, _f, _k in spec)
    marks = ", ".join("?" for _ in spec)
    cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 (fixed identifiers)
                    zip(*_python_columns(recs, spec), strict=True))


def _derive_executions_sqlite(cur: Any, recs: np.ndarray) -> None:
    """Executions from the fills just stored, inside SQLite (no Python object per fill: ~2x faster)."""
    if not (recs["etype"] == FILL).any():
        return
    cols = ", ".join(c for c, _f, _k in EXECUTION_COLUMNS)
    src = ", ".join(f for _c, f, _k in EXECUTION_COLUMNS)
    sql = (f"INSERT INTO {EXECUTIONS_TABLE} ({cols}) SELECT {src} FROM {EVENTS_TABLE} "  # noqa: S608
           f"WHERE epoch = ? AND seq BETWEEN ? AND ? AND etype = {FILL} ON CONFLICT DO NOTHING")
    for epoch, a, b in _epoch_ranges(recs):
        cur.execute(sql, (epoch, int(recs["seq"][a]), int(recs["seq"][b - 1])))


def _load_sqlite(engine: Engine, recs: np.ndarray) -> int:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")  # take the write lock before looking at what is stored
        try:
            keep = _new_mask(cur, recs, "?")
            if keep is not None:
                recs = recs[keep]
            insert_records(cur, EVENTS_TABLE, EVENT_COLUMNS, recs)
            _derive_executions_sqlite(cur, recs)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
    finally:
        raw.close()
    return len(recs)
