"""The Dask task runner the heavy flows fan out on (prefect-dask's DaskTaskRunner).

`cat.dask_address` set: the flow connects to that running scheduler (a multi-host cluster: `dask scheduler`
on one host, `dask worker tcp://<host>:8786 --nthreads 1 --memory-limit 2GiB` on each, see README).
Unset: a LocalCluster for the run, one single-threaded worker process per core (the build is pure Python
and holds the GIL, so processes, not threads), each capped at `cat.dask_memory_limit`.
"""

from __future__ import annotations

from prefect_dask import DaskTaskRunner

from flows.cat.partitions import CatScale


def dask_task_runner(scale: CatScale) -> DaskTaskRunner:
    if scale.dask_address:
        return DaskTaskRunner(address=scale.dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
        "n_workers": scale.dask_workers, "threads_per_worker": 1, "processes": True,
        "memory_limit": scale.dask_memory_limit, "dashboard_address": None})
