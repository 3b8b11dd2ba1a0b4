"""`preopen-check` (09:00 ET): is the core fit to open? Fails (and so alerts) on any failing check."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from core_bridge.clocksync import ClockTolerances
from core_bridge.settings import load_settings
from flows.calendars import is_session
from flows.checks.clock import clock_findings
from flows.checks.preopen import failed, preopen_findings, to_markdown
from flows.controls.run import preopen_limits
from flows.dates import parse_date

CLOCK_SAMPLE_S = 1.0


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
        beats = [hb] if hb else []
        # a second of heartbeats (10): the clock check takes the worst reading, not one lucky sample
        deadline = time.monotonic() + CLOCK_SAMPLE_S
        while hb and (left := deadline - time.monotonic()) > 0 and (more := sub.wait_heartbeat(left * 1000)):
            beats.append(more)
    finally:
        sub.close()
    age = heartbeat_age_ms(beats[-1][0], beats[-1][1]) if beats else None
    offsets = [b[0].get("clock_offset_ns") for b in beats]
    source = str(beats[-1][0].get("clock_source", "")) if beats else ""
    return {"status": status, "snapshot": snapshot, "heartbeat_age_ms": age, "now_ns": midpoint,
            "clock_offsets_ns": [o if isinstance(o, int) else None for o in offsets], "clock_source": source}


@flow(name="preopen-check")
def preopen_check(date: str | None = None, expected_firm_level: str = "ACTIVE") -> dict[str, Any]:
    """Core healthy, limits/BP/locates/SOD loaded and acknowledged, kill state as expected, clocks in sync
    (host vs core, and the core's own offset from its PTP source within the house and CAT tolerances)."""
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
    findings += clock_findings(q["clock_offsets_ns"], ClockTolerances.from_settings(load_settings()),
                               source=q["clock_source"])
    # 15c3-5: the approved limits file against the core's runtime limits; a looser value no approval explains fails
    findings += preopen_limits(load_settings(), day, q["snapshot"], q["now_ns"])
    create_markdown_artifact(key="preopen-check", markdown=to_markdown(day.isoformat(), findings),
                             description=f"pre-open readiness {day}")
    bad = failed(findings)
    if bad:
        raise RuntimeError("pre-open check failed: " + "; ".join(f"{f.check}: {f.detail}" for f in bad))
    return {"date": day.isoformat(), "findings": [asdict(f) for f in findings]}
