"""Clock sync end to end on real sockets: a twin whose seeded PTP plan breaches the house tolerance, the
capture process's clock recorder writing the clock-sync log, the pre-open clock check failing on the breach
readings, and the exporter's max-offset gauge showing it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core_bridge.clocksync import ClockTolerances, log_path, ny_date, read_clock_log
from core_bridge.dropcopy.config import CaptureConfig
from core_bridge.exporter import Exporter
from core_bridge.telemetry import TelemetryModel, TelemetrySubscriber
from flows.checks.clock import clock_findings
from hw.twin.clock_plan import BREACH_PEAK_NS
from hw.twin.launch import start_twin
from tests.polling import wait_for

TOL = ClockTolerances()


def test_clock_breach_when_the_plan_breaches_then_logged_preopen_fails_and_gauge_shows_it(
        ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLO_OPS_TWIN_CLOCK_PLAN", "5:breach@1")  # 1 s after the first heartbeat, for 3 s
    handle = start_twin(ops_home, "primary", ports=None)
    capture: subprocess.Popen[bytes] | None = None
    sub = TelemetrySubscriber(handle.endpoints["telemetry"], handle.keys_dir, "monitor", topics=(b"hb",))
    try:
        for name, ep in handle.endpoints.items():
            monkeypatch.setenv(f"COLO_OPS_CORE_PRIMARY_{name.upper()}", ep)
        cfg = CaptureConfig.from_home(ops_home)
        assert cfg.telemetry_endpoint == handle.endpoints["telemetry"]
        assert cfg.clock_log_dir == ops_home / "clocksync"
        # the capture as production runs it: its own process, stopped by SIGTERM (which flushes the last window)
        capture = subprocess.Popen([sys.executable, "-m", "core_bridge.dropcopy", "--home", str(ops_home)],
                                   env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        model, readings = TelemetryModel(), []

        def breach_seen_and_over() -> bool:
            got = sub.recv(200)
            if got is not None:
                model.observe(*got)
                readings.append(got[1].get("clock_offset_ns"))
            seen = [i for i, r in enumerate(readings) if r is not None and abs(r) > TOL.house_ns]
            return bool(seen) and any(r is not None and abs(r) <= TOL.house_ns for r in readings[seen[-1]:])

        wait_for(breach_seen_and_over, timeout=20, what="the seeded breach and the recovery in the heartbeats")
        ex = Exporter()
        ex.update(model)
        scraped = ex.render().decode()
        assert f'colo_core_clock_offset_max_abs_seconds{{node="primary"}} {BREACH_PEAK_NS / 1e9}' in scraped
        during = [r for r in readings if r is not None and abs(r) > TOL.house_ns]
        got = {f.check: f.severity for f in clock_findings(during[:3], TOL, source="ptp")}
        assert got == {"clock-offset-house": "fail", "clock-offset-cat": "ok"}
        after = {f.check: f.severity for f in clock_findings(readings[-1:], TOL, source="ptp")}
        assert after == {"clock-offset-house": "ok", "clock-offset-cat": "ok"}

        def logged_breach() -> bool:
            files = sorted((ops_home / "clocksync").glob("clocksync_*.csv"))
            rows = [r for f in files for r in read_clock_log(f)]
            return any((r.max_abs_offset_ns or 0) == BREACH_PEAK_NS for r in rows) and \
                (rows[-1].max_abs_offset_ns or 0) <= TOL.house_ns
        wait_for(logged_breach, timeout=10, what="the breach and its recovery in the clock-sync log")
        rows = read_clock_log(sorted((ops_home / "clocksync").glob("clocksync_*.csv"))[-1])
        assert {r.source for r in rows} == {"ptp"} and {r.node for r in rows} == {"primary"}
        assert log_path(ops_home / "clocksync", ny_date(rows[0].time_ns)).is_file()
    finally:
        sub.close()
        if capture is not None:
            capture.terminate()
            capture.wait(10)
        handle.stop()
