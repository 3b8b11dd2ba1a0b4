"""`cat` flow: build, validate, seal and submit the day's CAT order events (due 08:00 ET on T+1).

Thin wiring over reports.cat: load the day's drop-copy events (a .npy file given as a parameter, else the
ops store's order_events, else the journal), seal (idempotent: a rerun finds the sealed files and
changes nothing), submit through the configured CatSubmitter, record it, write the daily CAT report and
a Prefect markdown artifact.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from core_bridge.protocol import EVENT_DTYPE
from core_bridge.settings import Settings, load_settings
from flows.calendars import is_session
from flows.cat_submit import CatSubmitter, make_submitter
from flows.dates import parse_date
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_day
from reports.cat.deadlines import ns_to_ny, repair_deadline_ns, submission_deadline_ns
from reports.cat.feedback import parse_feedback
from reports.cat.package import Submission, sealed_submissions
from reports.cat.report import CatDayReport, write_report

SUBMISSION_LOG = "cat_submissions.json"


def load_events(settings: Settings, day: dt.date, events_path: str | None = None) -> np.ndarray:
    """The day's events: an explicit .npy file, else the store's order_events, else the journal."""
    if events_path:
        arr = np.load(events_path, allow_pickle=False)
        if arr.dtype != EVENT_DTYPE:
            raise ValueError(f"{events_path}: dtype {arr.dtype} is not EVENT_DTYPE")
        return arr
    from_store = _events_from_store(settings, day)
    if from_store is not None:
        return from_store
    return _events_from_journal(settings, day)


def _events_from_store(settings: Settings, day: dt.date) -> np.ndarray | None:
    try:
        import sqlalchemy as sa

        from flows.store.db import make_engine
        from flows.store.models import OrderEvent
    except ImportError:
        return None
    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    engine = make_engine(url)
    try:
        cols = [c for c in EVENT_DTYPE.names or ()]
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("order_events"):
                return None
            rows = conn.execute(sa.select(*[getattr(OrderEvent, c) for c in cols])
                                .where(OrderEvent.trade_date == day).order_by(OrderEvent.epoch, OrderEvent.seq)).all()
    finally:
        engine.dispose()
    if not rows:
        return None
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for j, c in enumerate(cols):
        vals = [r[j] for r in rows]
        out[c] = [v.encode() for v in vals] if EVENT_DTYPE[c].kind == "S" else vals
    return out


def _events_from_journal(settings: Settings, day: dt.date) -> np.ndarray:
    from core_bridge.journal import iter_records
    from reports.cat.encode import date_int, et_date_int

    jdir = settings.journal_dir
    if not jdir.is_dir():
        return np.zeros(0, dtype=EVENT_DTYPE)
    want = date_int(day)
    parts = []
    for recs in iter_records(jdir):
        hours = np.unique(recs["ts_ns"] // 3_600_000_000_000)
        keep_hours = [h for h in hours.tolist() if et_date_int(h * 3_600_000_000_000) == want]
        parts.append(recs[np.isin(recs["ts_ns"] // 3_600_000_000_000, keep_hours)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)


def submissions_log(reports_dir: Path) -> list[dict[str, Any]]:
    p = reports_dir / SUBMISSION_LOG
    return json.loads(p.read_text()) if p.exists() else []  # type: ignore[no-any-return]


def record_submission(reports_dir: Path, sub: Submission, submitted_ns: int, deadline_ns: int) -> dict[str, Any]:
    """Append to reports/<date>/cat_submissions.json (and the ops store's cat_submissions when it exists)."""
    log = submissions_log(reports_dir)
    entry = {"kind": sub.kind, "metas": sub.metas, "files": [f.name for f in sub.files], "records": sub.records,
             "submitted_ns": submitted_ns, "submitted_et": ns_to_ny(submitted_ns), "deadline_ns": deadline_ns,
             "late": submitted_ns > deadline_ns}
    log.append(entry)
    (reports_dir / SUBMISSION_LOG).write_text(json.dumps(log, indent=2) + "\n")
    _store_submission(reports_dir, sub, submitted_ns, deadline_ns)
    return entry


def _store_engine() -> Any | None:
    """The ops store's engine when its CAT tables exist (a migrated database), else None."""
    import sqlalchemy as sa

    from flows.store.db import make_engine

    url = load_settings().db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    engine = make_engine(url)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("cat_submissions"):
            engine.dispose()
            return None
    return engine


def _ns_dt(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)


def _store_submission(reports_dir: Path, sub: Submission, submitted_ns: int, deadline_ns: int) -> None:
    """One cat_submissions row per data file (status submitted, deadline, late)."""
    engine = _store_engine()
    if engine is None:
        return
    from flows.store.db import session_scope
    from flows.store.models import CatStatus, CatSubmission

    day = dt.date.fromisoformat(reports_dir.name)
    try:
        with session_scope(engine) as s:
            for f in sub.files:
                s.add(CatSubmission(business_date=day, file_name=f.name, file_number=int(f.name[-15:-9]),
                                    sha256=f.sha256, records=f.records, status=CatStatus.SUBMITTED.value,
                                    sealed_at=None, submitted_at=_ns_dt(submitted_ns), deadline=_ns_dt(deadline_ns),
                                    late=submitted_ns > deadline_ns))
    finally:
        engine.dispose()


def store_feedback(day: dt.date, errors: list[Any], repaired: set[int], repair_file: str | None) -> int:
    """cat_feedback rows (one per error and code); existing rows get their status/repair file updated."""
    engine = _store_engine()
    if engine is None:
        return 0
    import sqlalchemy as sa

    from flows.store.db import session_scope
    from flows.store.models import CatFeedback, CatFeedbackStatus

    n = 0
    try:
        with session_scope(engine) as s:
            for e in errors:
                status = (CatFeedbackStatus.REPAIRED if e.error_roe_id in repaired else CatFeedbackStatus.OPEN).value
                for code in e.codes:
                    row = s.scalars(sa.select(CatFeedback).where(
                        CatFeedback.business_date == day, CatFeedback.error_roe_id == str(e.error_roe_id),
                        CatFeedback.error_code == code)).first()
                    if row is None:
                        s.add(CatFeedback(business_date=day, error_roe_id=str(e.error_roe_id), error_code=code,
                                          firm_roe_id=e.firm_roe_id, status=status, repair_file=repair_file,
                                          received_at=_ns_dt(time.time_ns())))
                        n += 1
                    else:
                        row.status = status
                        row.repair_file = row.repair_file or repair_file
    finally:
        engine.dispose()
    return n


def submit_sealed(submitter: CatSubmitter, cat_dir: Path, reports_dir: Path, sub: Submission,
                  deadline_ns: int) -> dict[str, Any] | None:
    """Submit unless this submission's metadata was already submitted (reruns never resend)."""
    if any(m in e["metas"] for e in submissions_log(reports_dir) for m in sub.metas):
        return None
    receipt = submitter.submit(cat_dir, sub)
    return record_submission(reports_dir, sub, receipt.submitted_ns, deadline_ns)


def build_report(day: dt.date, reports_dir: Path, counts: dict[str, int] | None = None) -> CatDayReport:
    cat_dir = reports_dir / "cat"
    if counts is None:
        from reports.cat.day import sealed_records

        counts = {}
        for r in sealed_records(cat_dir).values():
            counts[r["type"]] = counts.get(r["type"], 0) + 1
    fb = parse_feedback(reports_dir / "cat_feedback")
    from reports.cat.day import repaired_error_ids

    return CatDayReport(day.isoformat(), counts, submissions_log(reports_dir), fb.errors, repaired_error_ids(cat_dir),
                        submission_deadline_ns(day), repair_deadline_ns(day))


@task
def seal_task(day: dt.date, events_path: str | None, strict: bool, resubmit: bool) -> dict[str, Any]:
    settings = load_settings()
    cfg = CatConfig.from_settings(settings)
    events = load_events(settings, day, events_path)
    cat_dir = settings.reports_dir(day.isoformat()) / "cat"
    sub = seal_day(events, ACCOUNTS_BY_ID, cfg, day, cat_dir, now_ns=time.time_ns(), strict=strict,
                   resubmit=resubmit)
    return {"events": int(len(events)), "counts": sub.counts, "metas": sub.metas,
            "files": [f.name for f in sub.files], "already_sealed": sub.already_sealed}


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
    reports_dir = load_settings().reports_dir(day.isoformat())
    rep = build_report(day, reports_dir, counts or None)
    md, _ = write_report(rep, reports_dir)
    create_markdown_artifact(key=f"cat-{day.isoformat()}", markdown=rep.to_markdown(),
                             description=f"CAT order events for {day.isoformat()}")
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
    sealed = seal_task(day, events_path, strict, resubmit)
    log.info("CAT %s: %s", day, {k: sealed[k] for k in ("events", "counts", "metas", "already_sealed")})
    submitted = submit_task(day) if submit else []
    report = report_task(day, sealed["counts"] if not sealed["already_sealed"] else {})
    return {**sealed, "submitted": submitted, "report": report}
