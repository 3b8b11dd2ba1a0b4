"""`ops-report` (21:00 ET): the daily ops report (HTML with plots); its key tables as a Prefect markdown artifact,
with the report linked over HTTP when `reports.base_url` is set (flows/orchestration/artifacts.py)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.dates import parse_date
from flows.orchestration.artifacts import publish_report


@task(name="gather-and-write")
def gather_and_write(date: str, flows: list[dict[str, str]] | None) -> dict[str, Any]:
    import datetime as dt

    from flows.ops_report.gather import build_ops_day
    from flows.orchestration.prefect_runs import latest_flow_states
    from reports.ops_report import render_markdown, write_ops_report

    settings = load_settings()
    day = dt.date.fromisoformat(date)
    ops_day = build_ops_day(settings, day, flows if flows is not None else latest_flow_states(day))
    path = write_ops_report(ops_day, settings.reports_dir(date))
    return {"path": str(path), "flows": ops_day.flows, "orders": ops_day.events_by_type.get("ORDER_NEW", 0),
            "rejects": sum(ops_day.rejects_by_reason.values()), "breaks": sum(ops_day.breaks_by_type.values()),
            "drills": len(ops_day.drills), "markdown": render_markdown(ops_day),
            "reports": [str(path.parent / p) for _, p in sorted(ops_day.reports.items())]}


@flow(name="ops-report")
def ops_report(date: str | None = None, flows: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Write reports/<date>/ops-report.html (+ .json) and publish its summary tables as the run's artifact."""
    day = parse_date(date)
    if not is_session(day):
        get_run_logger().info("%s is not an NYSE session", day)
        return {"date": day.isoformat(), "status": "not a session"}
    out = gather_and_write(day.isoformat(), flows)
    publish_report("ops-report-summary", out.pop("markdown"), [out["path"], *out.pop("reports")],
                   settings=load_settings(), description=f"daily ops report {day}", link_key="ops-report")
    return {"date": day.isoformat(), **out}
