"""`eod-capture` (16:30 ET): close journal gaps by rewind, seal the day's journal, verify it, load the ops DB.

The load runs in this process, unless a Dask cluster is configured (`cat.dask_address`) and the day is big
(`store.dask_min_events`) on PostgreSQL: then it is cut into partitions of whole segments
(flows/store/load_partitions.py) loaded as `store-load-partition` tasks of the `store-load-partitions`
subflow, each COPYing its own segments.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.dates import parse_date


@task(name="store-load-partition", retries=2, retry_delay_seconds=1)
def store_load_partition(db_url: str, paths: list[str]) -> int:
    """One run of whole sealed segments, read and COPYed by the worker this runs on; returns rows inserted."""
    from flows.store.load_partitions import load_partition

    return load_partition(db_url, paths)


@flow(name="store-load-partitions")
def store_load_partitions(db_url: str, groups: list[list[str]]) -> int:
    """The partitions of a big day's load as tasks of this subflow's task runner (Dask)."""
    return sum(f.result() for f in store_load_partition.map(db_url, groups))


def load_journal(engine: Any, journal_dir: Path) -> Any:
    """Load every pending sealed segment: here for a small day, else partition by partition on Dask."""
    from flows.cat.partitions import CatScale
    from flows.orchestration.dask_runner import dask_task_runner
    from flows.store.load_partitions import StoreLoadScale, loaded, plan_load
    from flows.store.loader import load_segments

    settings = load_settings()
    scale = StoreLoadScale.from_settings(settings)
    plan = plan_load(engine, str(journal_dir), scale.partition_events)
    cluster = CatScale.from_settings(settings)
    if scale.use_cluster(engine.dialect.name, plan, cluster.dask_address):
        runner: Any = dask_task_runner(cluster)
        rows = store_load_partitions.with_options(task_runner=runner)(settings.db_url, plan.groups)
    else:
        rows = sum(load_segments(engine, paths) for paths in plan.groups)
    return loaded(plan, rows)


@task(name="close-gaps-seal-load", tags=["journal"])
def close_gaps_seal_load(deadline_s: float) -> dict[str, Any]:
    from flows.journal_eod import run_eod
    from flows.store.db import make_engine, upgrade

    settings = load_settings()
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        return asdict(run_eod(settings, engine, deadline_s, load=load_journal))
    finally:
        engine.dispose()


@flow(name="eod-capture")
def eod_capture(date: str | None = None, deadline_s: float = 120.0) -> dict[str, Any]:
    """Bring the journal level with the core, seal and verify it, and load it into the ops store."""
    day = parse_date(date)
    log = get_run_logger()
    if not is_session(day):
        log.info("%s is not an NYSE session", day)
        return {"date": day.isoformat(), "status": "not a session"}
    res = close_gaps_seal_load(deadline_s)
    res["date"] = day.isoformat()
    create_markdown_artifact(
        key="eod-capture",
        markdown="\n".join(
            [f"# eod-capture {day}", "", "| item | value |", "|---|---|"]
            + [f"| {k} | {v} |" for k, v in res.items()]
        ),
        description=f"journal sealed and loaded for {day}",
    )
    return res
