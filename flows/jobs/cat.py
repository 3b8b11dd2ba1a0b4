"""`cat` flow: build, validate, seal and submit the day's CAT order events (due 08:00 ET on T+1).

Thin wiring over reports.cat: find the day's drop-copy events (a .npy file given as a parameter, else the
ops store's order_events, else the journal), plan the day into partitions (reports.cat.partition), build
each partition (in this process for a small day, else as `cat-partition` tasks of the `cat-partitions`
subflow on Dask: prefect-dask's DaskTaskRunner, a LocalCluster or `cat.dask_address`), seal them in
partition order (idempotent: a rerun finds the sealed files and changes nothing), submit through the
configured CatSubmitter, record it, write the daily CAT report and publish it as a Prefect markdown artifact
(`cat-<date>`, with the report's files), moving `cat-progress` at the coarse steps (events planned → sealed
→ submitted → reported).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import uuid
from dataclasses import replace
from typing import Any

from prefect import flow, get_run_logger, task

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.cat.events import day_source
from flows.cat.partitions import CatScale, PartitionJob, run_partition, split_range, write_plan
from flows.cat.submission import make_submitter
from flows.cat.submissions import build_report, submit_sealed
from flows.dates import parse_date
from flows.orchestration.artifacts import Progress, publish_report
from flows.orchestration.dask_runner import dask_task_runner
from reports.cat.config import CatConfig
from reports.cat.deadlines import submission_deadline_ns
from reports.cat.encode import date_int
from reports.cat.package import sealed_submissions
from reports.cat.partition import PartitionResult, commit_partitions, summarize
from reports.cat.report import write_report


@task
def plan_task(day: dt.date, events_path: str | None, strict: bool) -> dict[str, Any]:
    """Find the day's events, plan the partitions and the journal ranges, in a fresh work folder."""
    settings = load_settings()
    scale = CatScale.from_settings(settings)
    work = settings.reports_dir(day.isoformat()) / "cat" / ".work" / f"run-{uuid.uuid4().hex[:12]}"
    source = day_source(settings, day, events_path, work)
    plan, n, n_ranges = write_plan(source, scale.partition_events, work)
    job = PartitionJob(source, str(work), 0, CatConfig.from_settings(settings), time.time_ns(), strict)
    return {"events": n, "work": str(work), "ranges": [replace(job, part=r) for r in range(n_ranges)],
            "parts": [replace(job, part=p) for p in range(plan.n_parts)],
            "cluster": scale.use_cluster(n, plan.n_parts), "scale": scale}


@task(retries=2, retry_delay_seconds=1)
def cat_split(job: PartitionJob) -> int:
    """One journal range, read and CRC-checked by this task, written grouped by partition."""
    return split_range(job)


@task(retries=2, retry_delay_seconds=1)
def cat_partition(job: PartitionJob) -> PartitionResult:
    """One partition: built from the range files, its own files written; only the manifest returns."""
    return run_partition(job)


@flow(name="cat-partitions")
def cat_partitions(ranges: list[PartitionJob], parts: list[PartitionJob]) -> list[PartitionResult]:
    """The day's split and build stages as tasks of this subflow's task runner (Dask)."""
    for f in cat_split.map(ranges):
        f.result()
    return [f.result() for f in cat_partition.map(parts)]


@task
def commit_task(day: dt.date, results: list[PartitionResult], work: str, resubmit: bool,
                strict: bool) -> dict[str, Any]:
    settings = load_settings()
    cfg = CatConfig.from_settings(settings)
    cat_dir = settings.reports_dir(day.isoformat()) / "cat"
    try:
        sub = commit_partitions(results, cfg, date_int(day), cat_dir, resubmit=resubmit, strict=strict)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"counts": sub.counts, "metas": sub.metas, "files": [f.name for f in sub.files],
            "already_sealed": sub.already_sealed}


def seal_day_partitioned(day: dt.date, events_path: str | None, strict: bool, resubmit: bool,
                         progress: Progress | None = None) -> dict[str, Any]:
    """Plan, split and build every partition (here, or on Dask when the day is big enough) and seal."""
    planned = plan_task(day, events_path, strict)
    ranges, parts, scale = planned["ranges"], planned["parts"], planned["scale"]
    where = f"on Dask ({scale.dask_address or 'LocalCluster'})" if planned["cluster"] else "in this process"
    if progress is not None:
        progress.update(15, f"{planned['events']:,} drop-copy events in {len(parts)} partition(s); building {where}")
    try:
        if planned["cluster"]:
            runner: Any = dask_task_runner(scale)  # prefect-dask's runner type is not Prefect's generic one
            results = cat_partitions.with_options(task_runner=runner)(ranges, parts)
        else:
            for r in ranges:
                split_range(r)
            results = [run_partition(p) for p in parts]
    except BaseException:
        shutil.rmtree(planned["work"], ignore_errors=True)
        raise
    sealed = commit_task(day, results, planned["work"], resubmit, strict)
    return {"events": planned["events"], **sealed,
            "build": {**summarize(results), "ranges": len(ranges), "where": where}}


@task
def submit_task(day: dt.date) -> list[dict[str, Any]]:
    settings = load_settings()
    reports_dir = settings.reports_dir(day.isoformat())
    submitter = make_submitter(settings)
    out = []
    for sub in sealed_submissions(reports_dir / "cat"):
        if sub.kind != "NEW":
            continue
        entry = submit_sealed(submitter, reports_dir / "cat", reports_dir, sub, submission_deadline_ns(day))
        if entry:
            out.append(entry)
    submitter.fetch_feedback(reports_dir / "cat_feedback")
    return out


@task
def report_task(day: dt.date, counts: dict[str, int]) -> str:
    settings = load_settings()
    reports_dir = settings.reports_dir(day.isoformat())
    rep = build_report(day, reports_dir, counts or None)
    md, js = write_report(rep, reports_dir)
    publish_report(f"cat-{day.isoformat()}", rep.to_markdown(), [md, js], settings=settings,
                   description=f"CAT order events for {day.isoformat()}", link_key="cat-report")
    return str(md)


@flow(name="cat")
def cat(date: str | None = None, events_path: str | None = None, submit: bool = True, strict: bool = False,
        resubmit: bool = False) -> dict[str, Any]:
    """Seal and submit the day's CAT order events; returns what was sealed and submitted."""
    day = parse_date(date)
    log = get_run_logger()
    if not is_session(day):
        log.info("%s is not an NYSE session: no CAT order events", day)
        return {"date": day.isoformat(), "status": "not a session"}
    progress = Progress("cat-progress", f"CAT {day}: loading the day's drop-copy events")
    try:
        sealed = seal_day_partitioned(day, events_path, strict, resubmit, progress)
        log.info("CAT %s: %s", day, {k: sealed[k] for k in ("events", "counts", "metas", "already_sealed")})
        what = "already sealed" if sealed["already_sealed"] else f"sealed {len(sealed['files'])} file(s)"
        progress.update(70, f"{sealed['events']:,} events, {what}; " + ("submitting" if submit else "not submitting"))
        submitted = submit_task(day) if submit else []
        progress.update(90, f"{what}; {len(submitted)} submission(s) sent; writing the CAT report")
        report = report_task(day, sealed["counts"] if not sealed["already_sealed"] else {})
    except Exception as exc:
        progress.failed(exc)
        raise
    progress.done(f"{sealed['events']:,} events, {what}, {len(submitted)} submission(s) sent")
    return {**sealed, "submitted": submitted, "report": report}
