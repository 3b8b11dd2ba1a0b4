"""`clock-report` (16:35 ET): the day's clock-sync log into the daily clock report (reports/<date>/clock/).

Fails (and so alerts through the failed-run automation) when the day has no clock reading at all or the offset
went beyond CAT's tolerance; a breach of the house tolerance only is reported, and alerted by Prometheus.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, Failed

from core_bridge.clocksync import ClockTolerances
from core_bridge.settings import load_settings
from flows.calendars import require_session
from flows.checks.clock import run_clock_report
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.orchestration.artifacts import publish_report
from reports.clock import markdown_summary


@flow(name="clock-report", log_prints=False)
def clock_report(date: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    settings = load_settings()
    doc, paths = run_clock_report(settings.home, day, ClockTolerances.from_settings(settings),
                                  settings.reports_dir(day.isoformat()))
    publish_report("clock-report", markdown_summary(doc), paths, settings=settings,
                   description=f"clock synchronization {day}", link_key="clock-report-link")
    s = doc["summary"]
    if not s["windows"] or s["windows"] == s["windows_without_reading"]:
        return Failed(message=f"no clock reading logged for {day}")
    if s["cat_breaches"]:
        return Failed(message=f"clock offset beyond CAT's tolerance {s['cat_breaches']} time(s)")
    return Completed(message=f"max |offset| {s['max_abs_offset_ns']} ns; house breaches {s['house_breaches']}")
