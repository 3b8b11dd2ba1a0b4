"""`ha-drill` (weekly, off-session): fail the primary core over to the standby on purpose and measure it.

Thin wiring of flows/ha (scenarios, rig, checks) into a few coarse Prefect tasks:

    run drills (each on a fresh twin pair whose nodes are reached over SSH) -> report (reports/ha.py,
    COLO_OPS_HOME/reports/<date>/ha/ha-drill.{json,html}) -> store (ha_drills table)

Parameters: `date` (New York business date of the drill; default today), `scenarios` (default all of
flows.ha.runner.SCENARIOS), `series` (0: none; N: also N consecutive crashes of the active node with
the stream checked across all of them), `db_url` (default COLO_OPS_DB_URL). The flow fails (after the report,
the rows and the artifacts are written) when any drill failed. Artifacts: `ha-drill-progress` (moved after
each drill), `ha-drill-summary` (the drills table and the report files), `ha-drill-report` (a link, when
`reports.base_url` serves the reports).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE

from core_bridge.settings import load_settings
from flows.dates import NY
from flows.errors import DrillFailedError
from flows.orchestration.artifacts import Progress, publish_report
from reports.ha import markdown_summary


@task(name="run-ha-drills", cache_policy=NO_CACHE)
def run_drills_task(work: str, scenarios: list[str], series: int,
                    progress: Progress | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from flows.ha.runner import crash_series, run_scenario

    root = Path(work)
    shutil.rmtree(root, ignore_errors=True)
    drills: list[dict[str, Any]] = []
    total = len(scenarios) + (1 if series else 0)
    for i, name in enumerate(scenarios):
        drills.append(run_scenario(name, root / name).to_dict())
        if progress:
            progress.update(90 * (i + 1) / total, f"{name}: {'PASS' if drills[-1]['ok'] else 'FAIL'} "
                            f"({i + 1} of {total} drills)")
    summary: dict[str, Any] = {}
    if series:
        runs, overall = crash_series(root / "series", series)
        drills.extend(d.to_dict() for d in runs)
        summary = {"series": series, "ok": overall.ok, "metrics": overall.metrics, "checks": overall.checks,
                   "failures": overall.failures}
    return drills, summary


@task(name="ha-report", cache_policy=NO_CACHE)
def report_task(date: str, drills: list[dict[str, Any]], summary: dict[str, Any], reports_dir: str) -> list[str]:
    from reports.ha import report_doc, write_report

    j, h = write_report(report_doc(date, drills, summary=summary), Path(reports_dir))
    return [str(j), str(h)]


@task(name="store-ha-drills", cache_policy=NO_CACHE)
def store_task(db_url: str, date: str, drills: list[dict[str, Any]], started_at: dt.datetime) -> int:
    from flows.ha.store import store_drills
    from flows.store.db import make_engine, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        return store_drills(engine, date, drills, started_at)
    finally:
        engine.dispose()


@flow(name="ha-drill", log_prints=False)
def ha_drill(date: str | None = None, scenarios: list[str] | None = None, series: int = 0,
             db_url: str | None = None) -> dict[str, Any]:
    from flows.ha.runner import SCENARIOS

    log = get_run_logger()
    settings = load_settings()
    day = date or dt.datetime.now(NY).date().isoformat()
    dt.date.fromisoformat(day)
    chosen = list(scenarios) if scenarios is not None else list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    started = dt.datetime.now(dt.UTC)
    progress = Progress("ha-drill-progress", f"{len(chosen)} drill(s){f' + a series of {series}' if series else ''}")
    try:
        drills, summary = run_drills_task(str(settings.run_dir / "ha-drill" / day), chosen, series, progress)
    except Exception as exc:
        progress.failed(exc)
        raise
    paths = report_task(day, drills, summary, str(settings.reports_dir(day) / "ha"))
    stored = store_task(db_url or settings.db_url, day, drills, started)
    failed = [d["scenario"] for d in drills if not d["ok"]] + (["series"] if summary and not summary["ok"] else [])
    publish_report("ha-drill-summary", markdown_summary(json.loads(Path(paths[0]).read_text())), paths[::-1],
                   settings=settings, description=f"HA drill {day}", link_key="ha-drill-report")
    progress.done(f"{len(drills)} drill(s), {len(failed)} failed; {stored} stored")
    log.info("ha-drill %s: %d drills, %d failed; report %s", day, len(drills), len(failed), paths[1])
    if failed:
        raise DrillFailedError(f"HA drill failed: {failed} (report {paths[1]})")
    return {"date": day, "drills": len(drills), "stored": stored, "report": paths}
