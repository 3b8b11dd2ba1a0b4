"""The journal -> store load in partitions: range locks let loaders of other ranges COPY at once, and the
partitions of a day loaded on Dask store exactly what the single-process load stores."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from sqlalchemy import Engine

from core_bridge.journal.writer import Journal
from flows.store.db import make_engine, upgrade
from flows.store.load_partitions import StoreLoadScale, plan_load
from flows.store.loader import LOCK_BLOCK_BITS, load_events, load_sealed_segments, range_lock_keys
from flows.store.models import Execution, OrderEvent
from tests.integration.test_store_loader import count, events, stored_events
from tests.polling import wait_for

BLOCK = 1 << LOCK_BLOCK_BITS


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    upgrade(pg_url)
    eng = make_engine(pg_url)
    yield eng
    eng.dispose()


def test_range_lock_keys_when_records_span_blocks_and_epochs_then_one_key_per_block_ascending() -> None:
    recs = np.concatenate([events(BLOCK - 2, 4, epoch=1), events(5, 2, epoch=2)])
    recs.sort(order=["epoch", "seq"])
    assert range_lock_keys(recs) == [(1 << 32) | 0, (1 << 32) | 1, (2 << 32) | 0]


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _waiting_advisory_locks(url: str) -> int:
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()
        return int(row[0]) if row else 0


def test_load_when_a_loader_holds_one_range_then_another_range_loads_and_the_same_range_waits(
        pg_engine: Engine, pg_url: str) -> None:
    first, other = events(1, 500), events(BLOCK + 1, 500)
    results: dict[str, Any] = {}

    def load(name: str, recs: np.ndarray) -> None:
        try:
            results[name] = load_events(pg_engine, recs)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            results[name] = exc

    holder = psycopg.connect(_psycopg_url(pg_url))
    try:
        # Another loader's transaction holds the first block (as a slow COPY of those seqs would).
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (range_lock_keys(first)[0],))
        same = threading.Thread(target=load, args=("same", first))
        same.start()
        wait_for(lambda: _waiting_advisory_locks(pg_url) >= 1, timeout=30, what="the same-range loader waiting")
        # A loader of the next block is not held: the table lock used to serialise every loader.
        load("other", other)
        assert results["other"] == 500 and "same" not in results
    finally:
        holder.rollback()
        holder.close()
    same.join(timeout=60)
    assert results["same"] == 500
    assert count(pg_engine, OrderEvent) == 1000


def _journal(path: Path, parts: list[np.ndarray]) -> None:
    j = Journal.open(path, commit_records=64)
    try:
        for recs in parts:
            j.append(recs)
            j.commit()
            j.seal()
    finally:
        j.close()


def test_plan_load_when_segments_pending_then_runs_of_whole_segments_and_stored_ones_left_out(
        pg_engine: Engine, tmp_path: Path) -> None:
    parts = [events(1 + 100 * i, 100) for i in range(5)]
    _journal(tmp_path / "journal", parts)
    load_events(pg_engine, parts[0])
    plan = plan_load(pg_engine, str(tmp_path / "journal"), partition_events=200)
    assert (plan.segments, plan.skipped, plan.events) == (5, 1, 400)
    assert [len(g) for g in plan.groups] == [2, 2]
    cluster = "tcp://10.0.0.5:8786"
    assert StoreLoadScale(200, 400).use_cluster("postgresql", plan, cluster)
    assert not StoreLoadScale(200, 401).use_cluster("postgresql", plan, cluster)  # below the crossover
    assert not StoreLoadScale(200, 0).use_cluster("sqlite", plan, cluster)  # one writer at a time
    assert not StoreLoadScale(200, 0).use_cluster("postgresql", plan, "")  # no cluster of its own: in process


def test_eod_load_when_partitions_run_on_dask_then_same_rows_as_the_single_process_load(
        pg_url: str, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_cluster: Any,
        dask_client: Any, prefect_harness: Any) -> None:
    from flows.jobs.eod_capture import load_journal

    parts = [events(1 + 300 * i, 300, seed=i) for i in range(6)]
    _journal(tmp_path / "journal", parts)
    monkeypatch.setenv("COLO_OPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLO_OPS_DB_URL", pg_url)
    monkeypatch.setenv("COLO_OPS_STORE_PARTITION_EVENTS", "600")
    monkeypatch.setenv("COLO_OPS_STORE_DASK_MIN_EVENTS", "0")
    monkeypatch.setenv("COLO_OPS_CAT_DASK_ADDRESS", dask_cluster.scheduler_address)
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        done = load_journal(engine, tmp_path / "journal")
        assert (done.segments, done.skipped, done.rows) == (6, 0, 1800)
        ran = dask_client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
        assert any("store_load_partition" in name for name in ran), ran  # the partitions ran on the cluster
        again = load_journal(engine, tmp_path / "journal")  # a rerun: every segment already stored
        assert (again.segments, again.skipped, again.rows) == (6, 6, 0)
        on_dask = [(r.epoch, r.seq, r.order_id, r.qty, r.price) for r in stored_events(engine)]
        fills = count(engine, Execution)
    finally:
        engine.dispose()
    upgrade(sqlite_url)
    ref = make_engine(sqlite_url)
    try:
        assert load_sealed_segments(ref, tmp_path / "journal").rows == 1800
        assert [(r.epoch, r.seq, r.order_id, r.qty, r.price) for r in stored_events(ref)] == on_dask
        assert count(ref, Execution) == fills
    finally:
        ref.dispose()
