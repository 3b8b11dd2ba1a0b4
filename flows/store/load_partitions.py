"""The journal -> store load cut into partitions (runs of whole sealed segments), for a parallel load on Dask.

Why: one loader COPYs ~245,000 rows/s here, so a 1 B-event day takes over an hour in one stream. Each partition is a
run of whole segments that its task reads (CRC-checked) and COPYs itself, one transaction per segment; only
row counts travel back. Loaders of different sequence ranges do not wait for each other (the loader's range
locks, flows/store/loader.py), and a rerun, a retried task or a concurrent loader of the same range stores
every record once (idempotent by (epoch, seq)).

When it pays (bench/bench_store_scale.py): only with a database that has cores and WAL bandwidth to spare
for more COPY streams, i.e. a cluster of its own (`cat.dask_address`). On one 2-core host with one disk the
single stream already keeps the loader (~30 % of a core), its PostgreSQL backend (~50 %) and the WAL writes
busy at ~245,000 rows/s; two streams there measured 1.77x slower at 2 M events, 1.31x at 4 M and 1.05x at
10 M. So a LocalCluster is never started for the load, and SQLite (one writer at a time) always loads here.
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
    dask_min_events    below this many pending records the load runs in the flow's process even with a cluster
                       (default 10,000,000: the cluster's fixed cost measured 10-22 s)
    The cluster is the CAT job's `cat.dask_address`; without one the load runs in the flow's process.
    """

    partition_events: int = 1_000_000
    dask_min_events: int = 10_000_000

    @classmethod
    def from_settings(cls, settings: Any) -> StoreLoadScale:
        d = cls()
        return cls(int(settings.get("store.partition_events", d.partition_events)),
                   int(settings.get("store.dask_min_events", d.dask_min_events)))

    def use_cluster(self, backend: str, plan: LoadPlan, dask_address: str) -> bool:
        return (bool(dask_address) and backend == "postgresql" and len(plan.groups) > 1
                and plan.events >= self.dask_min_events)


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
