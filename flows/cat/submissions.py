"""What was submitted to CAT and what CAT said back: the submission log (reports/<date>/cat_submissions.json
and the ops store), feedback rows, and the daily CAT report's inputs. A rerun never resends: a submission
whose metadata is already in the log is skipped."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from core_bridge.settings import load_settings
from flows.cat.submission import CatSubmitter
from reports.cat.deadlines import ns_to_ny, repair_deadline_ns, submission_deadline_ns
from reports.cat.feedback import parse_feedback
from reports.cat.package import Submission
from reports.cat.report import CatDayReport

SUBMISSION_LOG = "cat_submissions.json"


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
