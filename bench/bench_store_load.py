"""Journal -> store load rate (rows/s) on SQLite and PostgreSQL, each next to a same-run bare baseline.

Baselines, on a table of the same shape (same columns, primary key and indexes, created from the real one):
- PostgreSQL: psycopg 3 binary COPY with `write_row` of the same rows, already as Python tuples (untimed).
- SQLite: `sqlite3.executemany` of the same rows, already as Python tuples (untimed), in one transaction.
The loader is timed end to end from the EVENT_DTYPE array: checks, "already stored?" query, decoding,
the event rows and the derived executions, commit. Goal (issue 3): loader within 1.5x of the baseline time.

COLO_OPS_BENCH_STORE_N sets the event count (default 1,000,000). Baseline and loader run alternately,
COLO_OPS_BENCH_STORE_REPEATS times each (default 3); the best time of each counts.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Figure, bench_main, emit, pg_scratch
from core_bridge.protocol import EventType, new_events
from hw.refdata import ACCOUNTS, SECURITIES

GOAL = 1.5
REPEATS = int(os.environ.get("COLO_OPS_BENCH_STORE_REPEATS", "3"))


def synthetic_events(n: int, seed: int = 7, epoch: int = 1) -> np.ndarray:
    """A day's worth of plausible drop copy: refdata accounts and symbols, a realistic event-type mix."""
    rng = np.random.default_rng(seed)
    r = new_events(n)
    r["seq"] = np.arange(1, n + 1, dtype=np.uint64)
    r["epoch"] = epoch
    open_ns = int(dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    r["ts_ns"] = open_ns + np.sort(rng.integers(0, 6 * 3600 * 10**9 + 30 * 60 * 10**9, n))
    etypes = [EventType.ORDER_NEW, EventType.ORDER_ROUTED, EventType.ORDER_ACKED, EventType.ORDER_FILLED,
              EventType.ORDER_CANCEL_REQUESTED, EventType.ORDER_CANCELLED, EventType.ORDER_REPLACED,
              EventType.ORDER_REJECTED]
    r["etype"] = rng.choice(np.array(etypes, dtype=np.uint8), n, p=[.2, .2, .2, .2, .07, .07, .04, .02])
    r["side"] = rng.integers(1, 4, n)
    r["venue"] = rng.integers(1, 4, n)
    r["ord_type"] = 1
    r["tif"] = rng.integers(1, 3, n)
    r["account"] = np.array([a.account.encode() for a in ACCOUNTS], dtype="S8")[rng.integers(0, len(ACCOUNTS), n)]
    syms = np.array([s.symbol.encode() for s in SECURITIES], dtype="S8")
    pick = rng.integers(0, len(SECURITIES), n)
    r["symbol"] = syms[pick]
    r["session"] = np.array([b"OUCH01", b"PILLAR1", b"PILLAR2"], dtype="S8")[r["venue"] - 1]
    ref = np.array([s.ref_price for s in SECURITIES], dtype=np.int64)[pick]
    r["qty"] = rng.integers(1, 50, n) * 100
    r["price"] = ref + rng.integers(-500, 500, n) * 100
    fill = r["etype"] == EventType.ORDER_FILLED
    r["last_qty"] = np.where(fill, r["qty"] // 2, 0)
    r["leaves_qty"] = r["qty"] - r["last_qty"]
    r["last_px"] = np.where(fill, r["price"], 0)
    r["order_id"] = 10**9 + np.arange(n) // 4
    r["routed_id"] = 5 * 10**9 + np.arange(n) // 4
    r["venue_order_id"] = 7 * 10**12 + np.arange(n) // 4
    r["exec_id"] = np.where(fill, 9 * 10**12 + np.arange(n), 0)
    r["clordid"] = 3 * 10**6 + np.arange(n) // 4
    return r


def _rows(recs: np.ndarray, date_as: Callable[[int], Any]) -> list[tuple[Any, ...]]:
    """The rows as a bare-DBAPI program would hold them: Python tuples in table column order."""
    from flows.store.event_columns import EVENT_COLUMNS, source_arrays

    arrays = source_arrays(recs)
    cols: list[list[Any]] = []
    for _c, field, kind in EVENT_COLUMNS:
        if kind == "text":
            cols.append(arrays[field].astype("U8").tolist())
        elif kind == "date":
            cols.append([date_as(int(d)) for d in arrays[field]])
        else:
            cols.append(arrays[field].tolist())
    return list(zip(*cols, strict=True))


def _interleaved(
    base: Callable[[], None], loader: Callable[[], None], setup: Callable[[], None]
) -> tuple[float, float]:
    """Best time of each, run alternately so drift in the machine's load hits both alike."""
    times: dict[str, float] = {"base": float("inf"), "loader": float("inf")}
    for _ in range(REPEATS):
        for name, fn in (("base", base), ("loader", loader)):
            setup()
            t0 = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times["base"], times["loader"]


def _figures(backend: str, n: int, loader_s: float, base_s: float, base_name: str, rerun_s: float) -> list[Figure]:
    return [
        Figure(f"{backend}_load_rate", n / loader_s, "rows/s", n / base_s, base_name,
               goal=f">= 1/{GOAL}x baseline rate (time within {GOAL}x)", met=loader_s <= GOAL * base_s),
        # Idempotence is cheap: a re-run over rows already stored only asks the store what it has.
        Figure(f"{backend}_rerun_all_stored", rerun_s, "s"),
    ]


def _rerun(engine: Any, recs: np.ndarray) -> float:
    from flows.store.loader import load_events

    t0 = time.perf_counter()
    _check(load_events(engine, recs), 0)
    return time.perf_counter() - t0


# --- PostgreSQL ------------------------------------------------------------------------------------------


def bench_postgresql(recs: np.ndarray) -> list[Figure]:
    import psycopg

    from flows.store.db import make_engine, upgrade
    from flows.store.event_columns import EVENT_COLUMNS
    from flows.store.loader import load_events

    with pg_scratch() as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            names = ", ".join(c for c, _f, _k in EVENT_COLUMNS)
            types = [{"int2": "int2", "int4": "int4", "int8": "int8", "date": "date", "text": "text"}[k]
                     for _c, _f, k in EVENT_COLUMNS]
            epoch0 = dt.date(1970, 1, 1).toordinal()
            rows = _rows(recs, lambda d: dt.date.fromordinal(epoch0 + d))
            with psycopg.connect(url) as conn:
                conn.execute("CREATE TABLE bare_events (LIKE order_events INCLUDING ALL)")
                conn.commit()

                def truncate() -> None:
                    conn.execute("TRUNCATE bare_events, order_events, executions")
                    conn.commit()
                    conn.execute("CHECKPOINT")

                def bare_copy() -> None:
                    sql = f"COPY bare_events ({names}) FROM STDIN (FORMAT BINARY)"
                    with conn.cursor() as cur, cur.copy(sql) as cp:
                        cp.set_types(types)
                        for row in rows:
                            cp.write_row(row)
                    conn.commit()

                base, loader = _interleaved(bare_copy, lambda: _check(load_events(engine, recs), len(recs)),
                                            truncate)
                rerun = _rerun(engine, recs)  # the last interleaved run was the loader's
                truncate()
            return _figures("postgresql", len(recs), loader, base, "bare psycopg binary COPY", rerun)
        finally:
            engine.dispose()


# --- SQLite ----------------------------------------------------------------------------------------------


def bench_sqlite(recs: np.ndarray) -> list[Figure]:
    from flows.store.db import make_engine, upgrade
    from flows.store.event_columns import EVENT_COLUMNS
    from flows.store.loader import load_events

    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        path = Path(tmp) / "ops.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        epoch0 = dt.date(1970, 1, 1).toordinal()
        rows = _rows(recs, lambda d: dt.date.fromordinal(epoch0 + d).isoformat())
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # The same shape: the real table's DDL and index DDL under another name.
        for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'order_events' AND sql IS NOT NULL"):
            conn.execute(sql.replace("order_events", "bare_events"))
        names = ", ".join(c for c, _f, _k in EVENT_COLUMNS)
        marks = ", ".join("?" for _ in EVENT_COLUMNS)

        def truncate() -> None:
            conn.execute("DELETE FROM bare_events")
            conn.execute("DELETE FROM order_events")
            conn.execute("DELETE FROM executions")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        def bare_executemany() -> None:
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO bare_events ({names}) VALUES ({marks})", rows)  # noqa: S608
            conn.execute("COMMIT")

        base, loader = _interleaved(bare_executemany, lambda: _check(load_events(engine, recs), len(recs)), truncate)
        rerun = _rerun(engine, recs)
        conn.close()
        engine.dispose()
    return _figures("sqlite", len(recs), loader, base, "bare sqlite3.executemany", rerun)


def _check(inserted: int, expected: int) -> None:
    if inserted != expected:
        raise RuntimeError(f"loader inserted {inserted} rows, expected {expected}")


@bench_main("store_load")
def main() -> None:
    n = int(os.environ.get("COLO_OPS_BENCH_STORE_N", "1000000"))
    recs = synthetic_events(n)
    backends = os.environ.get("COLO_OPS_BENCH_STORE_BACKENDS", "postgresql,sqlite").split(",")
    figures: list[Figure] = []
    if "postgresql" in backends:
        figures += bench_postgresql(recs)
    if "sqlite" in backends:
        figures += bench_sqlite(recs)
    figures.append(Figure("events_loaded_per_backend", n, "rows"))
    emit("store_load", figures)


if __name__ == "__main__":
    main()
