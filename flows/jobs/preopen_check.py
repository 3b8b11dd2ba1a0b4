"""`preopen-check` (09:00 ET): is the core fit to open? Fails (and so alerts) on any failing check."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.checks.preopen import failed, preopen_findings, to_markdown
from flows.dates import parse_date


@task(name="query-core", tags=["core-control"])
def query_core() -> dict[str, Any]:
    from core_bridge.client.commands import CoreClient
    from core_bridge.telemetry import TelemetrySubscriber, heartbeat_age_ms

    settings = load_settings()
    with CoreClient.from_settings(identity="monitor", operator="preopen-check", settings=settings) as c:
        sent = time.time_ns()
        status = c.status().result
        # The core stamped core_time_ns between our send and receipt: compare it with the midpoint.
        midpoint = (sent + time.time_ns()) // 2
        snapshot = c.snapshot().result
    sub = TelemetrySubscriber(settings.core_endpoint("telemetry"), settings.keys_dir, "monitor")
    try:
        hb = sub.wait_heartbeat(2_000)
    finally:
        sub.close()
    age = heartbeat_age_ms(hb[0], hb[1]) if hb else None
    return {"status": status, "snapshot": snapshot, "heartbeat_age_ms": age, "now_ns": midpoint}


@flow(name="preopen-check")
def preopen_check(date: str | None = None, expected_firm_level: str = "ACTIVE") -> dict[str, Any]:
    """Core healthy, limits/BP/locates/SOD loaded and acknowledged, kill state as expected, clocks in sync."""
    from hw.refdata import ACCOUNTS

    day = parse_date(date)
    log = get_run_logger()
    if not is_session(day):
        log.info("%s is not an NYSE session", day)
        return {"date": day.isoformat(), "status": "not a session"}
    q = query_core()
    findings = preopen_findings(
        q["status"], q["snapshot"], date=day.isoformat(), accounts=[a.account for a in ACCOUNTS],
        now_ns=q["now_ns"], heartbeat_age_ms=q["heartbeat_age_ms"], expected_firm_level=expected_firm_level,
    )
    create_markdown_artifact(key="preopen-check", markdown=to_markdown(day.isoformat(), findings),
                             description=f"pre-open readiness {day}")
    bad = failed(findings)
    if bad:
        raise RuntimeError("pre-open check failed: " + "; ".join(f"{f.check}: {f.detail}" for f in bad))
    return {"date": day.isoformat(), "findings": [asdict(f) for f in findings]}
