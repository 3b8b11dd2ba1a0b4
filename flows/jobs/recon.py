"""`recon` (18:30 ET): core vs journal vs clearing firm for one business date. Thin wiring only:

    fetch (fail closed) → reconcile (pure, flows/recon/reconcile.py) → store (idempotent) → report → alert

Settings (COLO_OPS_* env over colo-ops.toml):
    recon.cutoff                 the clearer's trade-file cutoff, HH:MM New York (default 17:00)
    recon.price_tolerance        fill price tolerance in PRICE_SCALE units (default 0: exact)
    recon.core_source            "core" (the snapshot command, default) or "file:<path>" (a snapshot JSON)
    recon.corporate_actions_file CSV of corporate-action notices (optional)
    recon.settled_at_settle_date_eod  true (default): a trade whose settlement date is D counts as settled in
                                 the clearer's SD quantity at EOD D; false: only from D+1 (night-cycle view)
    clearing.local_dir           serve clearer files from a directory (the twin); else clearing.sftp.*
    alerts.webhook_url / alerts.apprise_url   where alerts about new breaks go (see flows/recon/alerts.py)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE as NO_CACHE

from core_bridge.settings import Settings, load_settings
from flows import calendars
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.orchestration.artifacts import publish_report
from flows.orchestration.prefect_runs import tag_current_flow_run
from flows.recon import alerts
from flows.recon import store as rstore
from flows.recon.aging import age_business_days
from flows.recon.inputs import SYMBOLS, fetch_inputs
from flows.recon.reconcile import ReconInputs, ReconResult, reconcile
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import ReconRunStatus
from reports.recon import ReconReport, markdown_summary, write_report

MAX_ARTIFACT_ROWS = 500


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _report_rows(frame: Any, day: str) -> list[dict[str, Any]]:
    keep = frame.loc[(frame["status"].isin(["OPEN", "CARRIED"])) | (frame["resolved_on"] == day)].copy()
    keep["age_days"] = age_business_days(keep["first_seen"], day)
    keep.loc[~keep["status"].isin(["OPEN", "CARRIED"]), "age_days"] = 0
    return [{k: (None if _missing(v) else v) for k, v in rec.items()} for rec in keep.to_dict("records")]


def _missing(v: Any) -> bool:
    import pandas as pd

    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


@task(cache_policy=NO_CACHE)
def fetch(day: dt.date, settings: Settings, engine: Any) -> tuple[ReconInputs, dict[str, str]]:
    return fetch_inputs(day, settings, engine, log=get_run_logger())


@task(cache_policy=NO_CACHE)
def run_reconcile(inputs: ReconInputs) -> ReconResult:
    return reconcile(inputs)


@task(cache_policy=NO_CACHE)
def store(result: ReconResult, core: Any, engine: Any, run_id: int) -> tuple[list[str], dict[str, Any]]:
    with session_scope(engine) as s:
        new_ids = rstore.save_result(s, result, run_id)
        rstore.save_core_snapshot(s, result.trade_date, core, SYMBOLS)
        open_now = rstore.load_breaks(s, as_of=result.trade_date, open_only=True)
        summary = result.stats | {"open_breaks": len(open_now), "new_breaks": len(new_ids),
                                  "found_today": len(result.breaks)}
        rstore.finish_run(s, run_id, ReconRunStatus.BREAKS if len(open_now) else ReconRunStatus.CLEAN, summary,
                          _now())
    return new_ids, summary


@task(cache_policy=NO_CACHE)
def report(day: dt.date, settings: Settings, engine: Any, stats: dict[str, int],
           described: dict[str, str]) -> tuple[ReconReport, dict[str, Path]]:
    d = day.isoformat()
    with session_scope(engine) as s:
        rows = _report_rows(rstore.load_breaks(s, as_of=d), d)
        hist = rstore.history(s, d)
    rep = ReconReport(date=d, stats=stats, breaks=rows, history=hist, sources=described)
    return rep, write_report(rep, settings.reports_dir(d) / "recon")


@flow(name="recon")
def recon(date: str | None = None) -> dict[str, Any]:
    """Reconcile one business date (default: today in New York). Fails on a missing or unreadable source."""
    logger = get_run_logger()
    day = parse_date(date)
    try:
        calendars.require_session(day)
    except NotASessionError as exc:
        logger.info("%s", exc)
        return {"date": day.isoformat(), "status": "not a session"}
    settings = load_settings()
    engine = make_engine(settings.db_url)
    try:
        upgrade(engine)
        with session_scope(engine) as s:
            run_id = rstore.start_run(s, day.isoformat(), _now())
        try:
            inputs, described = fetch(day, settings, engine)
            result = run_reconcile(inputs)
            new_ids, summary = store(result, inputs.core_positions, engine, run_id)
        except Exception as exc:  # the run row says why; the store transaction itself rolled back whole
            with session_scope(engine) as s:
                rstore.finish_run(s, run_id, ReconRunStatus.FAILED, {"error": str(exc)}, _now())
            raise
        stable = {k: v for k, v in summary.items() if k != "new_breaks"}  # the report must not vary by run
        rep, paths = report(day, settings, engine, stable, described)
    finally:
        engine.dispose()
    open_rows = rep.open_breaks
    create_table_artifact(
        key="recon-open-breaks",
        table=[{k: r.get(k) for k in ("break_id", "btype", "status", "first_seen", "age_days", "account",
                                      "symbol", "exec_id", "internal_qty", "clearing_qty", "core_qty", "detail")}
               for r in open_rows[:MAX_ARTIFACT_ROWS]],
        description=f"Open reconciliation breaks as of {day} ({len(open_rows)}; first {MAX_ARTIFACT_ROWS} shown)",
        _sync=True,  # type: ignore[call-arg]  # async_dispatch can otherwise hand back an unawaited coroutine
    )
    publish_report("recon-summary", markdown_summary(rep, len(new_ids)), [paths["html"], paths["csv"]],
                   settings=settings, description=f"Reconciliation {day}", link_key="recon-report")
    delivered: dict[str, str] = {}
    if new_ids:
        by_type: dict[str, int] = {}
        for r in rep.breaks:
            if r["break_id"] in set(new_ids):
                by_type[str(r["btype"])] = by_type.get(str(r["btype"]), 0) + 1
        alert = alerts.Alert(
            title=f"recon {day}: {len(new_ids)} new break(s)",
            body=", ".join(f"{t} {n}" for t, n in sorted(by_type.items())) + f"; report {paths['html']}",
            date=day.isoformat(), new_breaks=len(new_ids), open_breaks=len(open_rows), by_type=by_type,
            report=str(paths["html"]),
        )
        delivered = alerts.send(alert, settings, logger=logger, tag_run=tag_current_flow_run)
        create_markdown_artifact(key="recon-alert", markdown=f"# {alert.title}\n\n{alert.body}\n",
                                 description="New reconciliation breaks", _sync=True)  # type: ignore[call-arg]
    logger.info("recon %s: %d found, %d new, %d open; report %s", day, len(result.breaks), len(new_ids),
                len(open_rows), paths["html"])
    return {"date": day.isoformat(), "status": "breaks" if open_rows else "clean", "new_breaks": new_ids,
            "open_breaks": len(open_rows), "found": len(result.breaks), "resolved": len(result.resolutions),
            "report": str(paths["html"]), "csv": str(paths["csv"]), "alert": delivered}
