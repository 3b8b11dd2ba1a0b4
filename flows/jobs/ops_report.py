"""`ops-report` (21:00 ET): the daily ops report (HTML with plots), linked from a Prefect artifact."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.dates import parse_date


@task(name="gather-and-write")
def gather_and_write(date: str, flows: list[dict[str, str]] | None) -> dict[str, Any]:
    import datetime as dt

    from flows.ops_report.gather import build_ops_day
    from flows.orchestration.prefect_runs import latest_flow_states
    from reports.ops_report import write_ops_report

    settings = load_settings()
    day = dt.date.fromisoformat(date)
    ops_day = build_ops_day(settings, day, flows if flows is not None else latest_flow_states(day))
    path = write_ops_report(ops_day, settings.reports_dir(date))
    return {"path": str(path), "flows": ops_day.flows, "orders": ops_day.events_by_type.get("ORDER_NEW", 0),
            "rejects": sum(ops_day.rejects_by_reason.values()), "breaks": sum(ops_day.breaks_by_type.values())}


@flow(name="ops-report")
def ops_report(date: str | None = None, flows: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Write reports/<date>/ops-report.html (+ .json) and link it from the run's artifacts."""
    day = parse_date(date)
    if not is_session(day):
        get_run_logger().info("%s is not an NYSE session", day)
        return {"date": day.isoformat(), "status": "not a session"}
    out = gather_and_write(day.isoformat(), flows)
    create_link_artifact(key="ops-report", link=f"file://{out['path']}", link_text=f"daily ops report {day}",
                         description=f"daily ops report {day}")
    create_markdown_artifact(
        key="ops-report-summary",
        markdown=(f"# Daily ops report {day}\n\n[{out['path']}](file://{out['path']})\n\n"
                  f"orders {out['orders']} · rejects {out['rejects']} · recon breaks {out['breaks']}\n\n"
                  + "\n".join(f"- {f['flow']}: {f['state']}" for f in out["flows"])),
        description=f"daily ops report {day}",
    )
    return {"date": day.isoformat(), **out}
