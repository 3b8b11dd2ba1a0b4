"""CAT scale-out: the `cat` flow on a Dask LocalCluster of 2 workers vs the same flow in one process, same run.

For each size (CAT_SCALE_SIZES, default 1,000,000 and 10,000,000 events), the day is tiled from a
simulated day (bench_cat's generator) into a real journal; then the `cat` flow (real Prefect, submit off)
seals it twice from that journal: once on the single-process path (partitions built one after the other in
the flow's process), once on 2 Dask worker processes through `cat.dask_address` (a `dask scheduler` and two
`dask worker`s started for the run, each in its own session, see _Cluster; CAT_SCALE_CLUSTER=local uses a
LocalCluster instead; start-up counted). Both must give byte-identical files. Reported: seconds and events/s per core,
the 2-worker/1-process ratio (goal at 10 M: <= 0.6x), the peak RSS of each worker (goal <= 2 GB at 10 M),
and the crossover (the event count where the cluster's fixed cost equals what it saves), plus `uptime`:
the machine is shared, so the figures are only as good as its load.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, bench_main, emit

DATE = "2026-11-20"
WORKERS = 2
PARTITION_EVENTS = 500_000


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _load1() -> float:
    return os.getloadavg()[0]


def _journal(path: Path, n: int) -> None:
    from core_bridge.journal.writer import Journal
    from hw.cat_twin.lifecycles import tile_day
    from hw.twin.market import simulate_day

    events = tile_day(simulate_day(DATE, 20_000, 7).events, n)
    with Journal.open(path) as j:
        for i in range(0, n, 1_000_000):
            j.append(events[i:i + 1_000_000])
        j.close(seal=True)


def _digest(cat_dir: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(cat_dir.iterdir()):
        if p.is_file():
            h.update(p.name.encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _run(root: Path, journal: Path, address: str | None) -> tuple[float, dict[str, Any], str]:
    from flows.jobs.cat import cat

    home = root / ("dask" if address else "local")
    home.mkdir(parents=True)
    os.environ.update({"COLO_OPS_HOME": str(home), "COLO_OPS_JOURNAL_DIR": str(journal),
                       "COLO_OPS_CAT_PARTITION_EVENTS": str(PARTITION_EVENTS),
                       "COLO_OPS_CAT_MAX_FILE_BYTES": str(32 * 1024 * 1024),
                       "COLO_OPS_CAT_DASK_ADDRESS": address or "",
                       "COLO_OPS_CAT_DASK_MIN_EVENTS": "0" if address else str(10**15)})
    t, cpu = time.perf_counter(), time.process_time()
    out = cat(date=DATE, submit=False)
    out["flow_cpu_s"] = time.process_time() - cpu
    return time.perf_counter() - t, out, _digest(home / "reports" / DATE / "cat")


class _Cluster:
    """The 2 workers. "sessions" (default): `dask scheduler` and one `dask worker` per worker, each in a
    session of its own, as on separate hosts or under systemd. Why: this kernel shares the CPU fairly between
    sessions (autogroup), so on a machine shared with other sessions, workers spawned inside the bench's
    session share that one session's slice and can never beat the single process, however idle their cores
    would be on a dedicated machine. "local": a LocalCluster inside the bench's session (the flow's default
    when no address is set), for comparison."""

    def __init__(self, tmp: Path, kind: str) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.local: Any = None
        if kind == "local":
            from distributed import LocalCluster

            self.local = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                      memory_limit="2GiB", dashboard_address=None)
            self.address = self.local.scheduler_address
            return
        from distributed import Client

        dask = str(Path(sys.executable).with_name("dask"))
        sched_file = tmp / f"scheduler-{time.time_ns()}.json"
        self.procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                            "--no-dashboard", "--scheduler-file", str(sched_file)],
                                           start_new_session=True, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        while not sched_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        for _ in range(WORKERS):
            self.procs.append(subprocess.Popen([dask, "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                                "--memory-limit", "2GiB", "--no-dashboard"],
                                               start_new_session=True, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        with Client(self.address, set_as_default=False) as client:
            client.wait_for_workers(WORKERS, timeout=180)

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def _size(n: int, tmp: Path, kind: str) -> list[Figure]:
    from distributed import Client

    journal = tmp / f"journal-{n}"
    _journal(journal, n)
    load_before = _load1()
    local_s, local, local_digest = _run(tmp / f"{n}", journal, None)
    t = time.perf_counter()
    cluster = _Cluster(tmp, kind)
    start_s = time.perf_counter() - t
    try:
        dask_s, dask, dask_digest = _run(tmp / f"{n}", journal, cluster.address)
        with Client(cluster.address, set_as_default=False) as client:
            import resource

            rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            worker_cpu = sum(client.run(time.process_time).values())
    finally:
        cluster.close()
    load_after = _load1()
    dask_s += start_s
    tag = f"{n // 1_000_000}m" if n >= 1_000_000 else f"{n // 1000}k"
    ratio_goal = n >= 10_000_000
    peak_mb = max(rss.values()) / 1024
    return [
        Figure(f"cat_scale_{tag}_events", n, "events"),
        Figure(f"cat_scale_{tag}_partitions", dask["build"]["partitions"], "partitions"),
        Figure(f"cat_scale_{tag}_files", len(dask["files"]), "files"),
        Figure(f"cat_scale_{tag}_1proc_s", local_s, "s"),
        Figure(f"cat_scale_{tag}_{WORKERS}w_s", dask_s, "s", local_s, "single-process flow",
               "<= 0.6x" if ratio_goal else "", dask_s <= 0.6 * local_s if ratio_goal else None),
        Figure(f"cat_scale_{tag}_cluster_start_s", start_s, "s"),
        Figure(f"cat_scale_{tag}_events_per_core_s", n / local_s, "events/s"),
        # CPU seconds: what the work costs whatever the machine's load (workers' CPU includes their imports)
        Figure(f"cat_scale_{tag}_1proc_cpu_s", local["flow_cpu_s"], "s"),
        Figure(f"cat_scale_{tag}_{WORKERS}w_cpu_s", worker_cpu + dask["flow_cpu_s"], "s", local["flow_cpu_s"],
               "single-process CPU"),
        Figure(f"cat_scale_{tag}_events_per_cpu_s", n / local["flow_cpu_s"], "events/s"),
        Figure(f"cat_scale_{tag}_{WORKERS}w_events_per_s", n / dask_s, "events/s", n / local_s, "single-process"),
        Figure(f"cat_scale_{tag}_worker_peak_rss_mb", peak_mb, "MB", goal="<= 2048 MB" if ratio_goal else "",
               met=peak_mb <= 2048 if ratio_goal else None),
        Figure(f"cat_scale_{tag}_identical_files", float(local_digest == dask_digest), "bool", goal="1",
               met=local_digest == dask_digest),
        Figure(f"cat_scale_{tag}_load1_before", load_before, "load"),
        Figure(f"cat_scale_{tag}_load1_after", load_after, "load"),
    ]


@bench_main("cat_scale")
def main() -> None:
    import tempfile

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    sizes = [int(s) for s in os.environ.get("CAT_SCALE_SIZES", "1000000,10000000").split(",")]
    kind = os.environ.get("CAT_SCALE_CLUSTER", "sessions")
    print(f"uptime before: {_uptime()}; workers: {WORKERS} ({kind})", flush=True)
    figures: list[Figure] = [Figure("cat_scale_cpus", os.cpu_count() or 0, "cores")]
    with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory(prefix="bench-cat-scale-") as d:
        for n in sizes:
            figs = _size(n, Path(d), kind)
            for f in figs:
                print(f.line(), flush=True)
            figures += figs
    # crossover: the cluster pays a fixed cost c and then runs at w x the single-process rate r:
    # n/r = c + n/(w r)  =>  n* = c r w / (w - 1), from the smallest size measured
    small = [f for f in figures if f.name.endswith("_cluster_start_s")]
    if small and sizes:
        n0 = sizes[0]
        one = next(f.value for f in figures if f.name.endswith("_1proc_s"))
        two = next(f.value for f in figures if f.name.endswith(f"_{WORKERS}w_s"))
        rate = n0 / one
        fixed = max(two - one / WORKERS, 0.0)
        figures.append(Figure("cat_scale_cluster_fixed_cost_s", fixed, "s"))
        figures.append(Figure("cat_scale_crossover_events", fixed * rate * WORKERS / (WORKERS - 1), "events"))
    print(f"uptime after: {_uptime()}", flush=True)
    emit("cat_scale", figures)


if __name__ == "__main__":
    main()
