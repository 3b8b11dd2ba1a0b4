"""Journal -> PostgreSQL load spread over Dask (eod-capture's `load_journal`) vs the same load in one process.

For each size (STORE_SCALE_SIZES, default 2,000,000 and 4,000,000 events) a synthetic day (bench_store_load's)
is written to a real journal of sealed 500,000-record segments, then loaded into a fresh PostgreSQL database
twice in the same run: by `load_sealed_segments` in this process (segment after segment, one COPY stream),
and by `load_journal` on 2 `dask worker`s (bench_cat_scale's cluster, each worker in a session of its own,
start-up counted), whose partitions COPY at the same time under the loader's range locks. Both must store
the same rows. Reported: seconds, rows/s, the ratio and the crossover (the event count from which the
cluster's fixed cost is repaid), which sets `store.dask_min_events`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import Figure, bench_main, emit, pg_scratch

WORKERS = 2
PARTITION_EVENTS = 1_000_000


def _digest(url: str) -> tuple[int, int, int]:
    """(rows, sum of seq, executions): what both loads must agree on."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows, seqs = conn.execute("SELECT count(*), coalesce(sum(seq), 0) FROM order_events").fetchone() or (0, 0)
        fills = (conn.execute("SELECT count(*) FROM executions").fetchone() or (0,))[0]
    return int(rows), int(seqs), int(fills)


def _load(journal: Path, address: str | None, home: Path) -> tuple[float, tuple[int, int, int]]:
    from flows.jobs.eod_capture import load_journal
    from flows.store.db import make_engine, upgrade
    from flows.store.loader import load_sealed_segments

    with pg_scratch("colo_ops_store_scale") as url:
        upgrade(url)
        engine = make_engine(url)
        os.environ.update({"COLO_OPS_HOME": str(home), "COLO_OPS_DB_URL": url,
                           "COLO_OPS_STORE_PARTITION_EVENTS": str(PARTITION_EVENTS),
                           "COLO_OPS_STORE_DASK_MIN_EVENTS": "0", "COLO_OPS_CAT_DASK_ADDRESS": address or ""})
        try:
            t = time.perf_counter()
            done = load_journal(engine, journal) if address else load_sealed_segments(engine, journal)
            took = time.perf_counter() - t
        finally:
            engine.dispose()
        if done.rows == 0:
            raise RuntimeError("nothing was loaded")
        return took, _digest(url)


def _journal(path: Path, n: int) -> None:
    """n storable events (bench_store_load's synthetic day) in a real journal, sealed segment by segment."""
    from bench.bench_store_load import synthetic_events
    from core_bridge.journal.writer import Journal

    recs = synthetic_events(n)
    with Journal.open(path) as j:
        for i in range(0, n, 500_000):
            j.append(recs[i:i + 500_000])
            j.commit()
            j.seal()
        j.close(seal=True)


def _size(n: int, tmp: Path) -> list[Figure]:
    from bench.bench_cat_scale import _Cluster

    journal = tmp / f"journal-{n}"
    _journal(journal, n)
    one_s, one = _load(journal, None, tmp / f"h1-{n}")
    t = time.perf_counter()
    cluster = _Cluster(tmp, "sessions")
    start_s = time.perf_counter() - t
    try:
        two_s, two = _load(journal, cluster.address, tmp / f"h2-{n}")
    finally:
        cluster.close()
    two_s += start_s
    tag = f"{n // 1_000_000}m"
    return [
        Figure(f"store_scale_{tag}_events", n, "events"),
        Figure(f"store_scale_{tag}_1proc_s", one_s, "s"),
        Figure(f"store_scale_{tag}_{WORKERS}w_s", two_s, "s", one_s, "single-process load"),
        Figure(f"store_scale_{tag}_cluster_start_s", start_s, "s"),
        Figure(f"store_scale_{tag}_1proc_rows_per_s", n / one_s, "rows/s"),
        Figure(f"store_scale_{tag}_{WORKERS}w_rows_per_s", n / two_s, "rows/s", n / one_s, "single-process"),
        Figure(f"store_scale_{tag}_same_rows", float(one == two), "bool", goal="1", met=one == two),
    ]


@bench_main("store_scale")
def main() -> None:
    import tempfile

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    sizes = [int(s) for s in os.environ.get("STORE_SCALE_SIZES", "2000000,4000000").split(",")]
    figures: list[Figure] = []
    with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory(prefix="bench-store-") as d:
        for n in sizes:
            figs = _size(n, Path(d))
            for f in figs:
                print(f.line(), flush=True)
            figures += figs
    # The cluster costs c and then loads at w x the single-process rate r: n/r = c + n/(w r) => n* = c r w/(w-1)
    if sizes:
        n0 = sizes[0]
        one = next(f.value for f in figures if f.name.endswith("_1proc_s"))
        two = next(f.value for f in figures if f.name.endswith(f"_{WORKERS}w_s"))
        fixed = max(two - one / WORKERS, 0.0)
        figures.append(Figure("store_scale_cluster_fixed_cost_s", fixed, "s"))
        figures.append(Figure("store_scale_crossover_events", fixed * (n0 / one) * WORKERS / (WORKERS - 1), "events"))
    emit("store_scale", figures)


if __name__ == "__main__":
    main()
