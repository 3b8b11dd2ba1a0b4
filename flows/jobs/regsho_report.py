"""`regsho-report` (16:45 ET): the day's locate usage into the locate log and the daily Reg SHO report.
Thin wiring over flows/clearing/runs.py; the report's tables are the `regsho-report` markdown artifact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.states import Completed

from flows.calendars import require_session
from flows.clearing.runs import run_regsho_report
from flows.clearing.wiring import engine_for, load_settings
from flows.dates import parse_date
from flows.errors import NotASessionError
from flows.orchestration.artifacts import publish_report
from reports.regsho import markdown_summary


@flow(name="regsho-report", log_prints=False)
def regsho_report(date: str | None = None) -> Any:
    day = parse_date(date)
    try:
        require_session(day)
    except NotASessionError as exc:
        return Completed(message=f"not a session: {exc}")
    settings = load_settings()
    engine = engine_for(settings)
    try:
        summary = run_regsho_report(engine, day, settings.reports_dir(day.isoformat()))
    finally:
        engine.dispose()
    doc = json.loads(Path(summary.outputs[0]).read_text())  # regsho_<date>.json, the whole report
    md = markdown_summary(doc) + ("\n**alerts**:\n\n" + "\n".join(f"- {a}" for a in summary.alerts) + "\n"
                                  if summary.alerts else "")
    html = [o for o in summary.outputs if o.endswith(".html")]
    publish_report("regsho-report", md, html + [o for o in summary.outputs if o not in html],
                   settings=settings, description=f"Reg SHO {day}", link_key="regsho-report-link")
    return {"outputs": summary.outputs, "alerts": summary.alerts}
