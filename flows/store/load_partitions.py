"""The journal -> store load cut into partitions (runs of whole sealed segments), for a parallel load on Dask.

Why: one loader COPYs ~66 k rows/s, so a 1 B-event day would take hours in one stream. Each partition is a
run of whole segments that its task reads (CRC-checked) and COPYs itself, one transaction per segment; only
row counts travel back. Loaders of different sequence ranges do not wait for each other (the loader's range
locks, flows/store/loader.py), and a rerun, a retried task or a concurrent loader of the same range stores
every record once (idempotent by (epoch, seq)). Only PostgreSQL gains: SQLite has one writer at a time, so it
keeps the single-process path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.store.loader import SegmentsLoaded, load_segments, pending_segments


@dataclass(frozen=True)
class LoadPlan:
    groups: list[list[str]]  # segment paths per partition, in journal order
    events: int  # records in the pending segments
    segments: int  # sealed segments in the journal
    skipped: int  # already fully stored (not read)


@dataclass(frozen=True)
class StoreLoadScale:
    """How the load spreads out (settings `store.*`, env `COLO_OPS_STORE_*`).

    partition_events   records per partition (whole segments, so a partition may hold more; default 1,000,000)
    dask_min_events    below this many pending records the load runs in the flow's process (default 2,000,000:
                       measured by bench/bench_store_load.py; the cluster's start-up is not repaid sooner)
    The cluster itself is the CAT job's (`cat.dask_address`, `cat.dask_workers`, `cat.dask_memory_limit`).
    """

    partition_events: int = 1_000_000
    dask_min_events: int = 2_000_000

    @classmethod
    def from_settings(cls, settings: Any) -> StoreLoadScale:
        d = cls()
        return cls(int(settings.get("store.partition_events", d.partition_events)),
                   int(settings.get("store.dask_min_events", d.dask_min_events)))

    def use_cluster(self, backend: str, plan: LoadPlan) -> bool:
        return backend == "postgresql" and len(plan.groups) > 1 and plan.events >= self.dask_min_events


def plan_load(engine: Any, journal_dir: str, partition_events: int) -> LoadPlan:
    """The pending sealed segments, cut into runs of about `partition_events` records."""
    todo, total = pending_segments(engine, journal_dir)
    groups: list[list[str]] = []
    size = 0
    for info in todo:
        if not groups or size >= partition_events:
            groups.append([])
            size = 0
        groups[-1].append(str(info.path))
        size += info.count
    return LoadPlan(groups, sum(info.count for info in todo), total, total - len(todo))


def load_partition(db_url: str, paths: list[str]) -> int:
    """One partition, on whichever worker runs it: its own engine, its own segments; returns rows inserted."""
    from flows.store.db import make_engine

    engine = make_engine(db_url)
    try:
        return load_segments(engine, paths)
    finally:
        engine.dispose()


def loaded(plan: LoadPlan, rows: int) -> SegmentsLoaded:
    return SegmentsLoaded(plan.segments, plan.skipped, rows)
