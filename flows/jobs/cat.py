"""`cat` flow: build, validate, seal and submit the day's CAT order events (due 08:00 ET on T+1).

Thin wiring over reports.cat: load the day's drop-copy events (a .npy file given as a parameter, else the
ops store's order_events, else the journal), seal (idempotent: a rerun finds the sealed files and
changes nothing), submit through the configured CatSubmitter, record it, write the daily CAT report and
publish it as a Prefect markdown artifact (`cat-<date>`, with the report's files), moving `cat-progress` at
the coarse steps (events loaded → sealed → submitted → reported).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from prefect import flow, get_run_logger, task

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.cat.events import load_events
from flows.cat.submission import make_submitter
from flows.cat.submissions import build_report, submit_sealed
from flows.dates import parse_date
from flows.orchestration.artifacts import Progress, publish_report
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_day
from reports.cat.deadlines import submission_deadline_ns
from reports.cat.package import sealed_submissions
from reports.cat.report import write_report


@task
def seal_task(day: dt.date, events_path: str | None, strict: bool, resubmit: bool,
              progress: Progress | None = None) -> dict[str, Any]:
    settings = load_settings()
    cfg = CatConfig.from_settings(settings)
    events = load_events(settings, day, events_path)
    if progress is not None:
        progress.update(15, f"{len(events):,} drop-copy events loaded; building, validating and sealing")
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
        sealed = seal_task(day, events_path, strict, resubmit, progress)
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
