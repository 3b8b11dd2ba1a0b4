"""The capture's rewind loop against the real twin core: at the core's end it does not ask for seqs the core
has not produced, and rewinds that keep failing back off, escalate once and recover."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from core_bridge.dropcopy.config import CaptureConfig
from core_bridge.exporter import Exporter
from core_bridge.journal.segment import read_durable
from core_bridge.telemetry import TelemetryModel, observe_capture, read_capture_status
from hw.twin.launch import TwinHandle
from tests.integration.test_capture_twin import Capture as TwinCapture
from tests.polling import wait_for


class Capture(TwinCapture):
    """The capture of test_capture_twin, started only once its journal is open."""

    def __init__(self, cfg: CaptureConfig) -> None:
        super().__init__(cfg)
        wait_for(lambda: self.svc.journal is not None, 10, "the capture to open its journal")


def config(twin: TwinHandle, tmp_path: Path, **kw: Any) -> CaptureConfig:
    cfg = CaptureConfig(journal_dir=tmp_path / "journal", keys_dir=twin.keys_dir,
                        dropcopy_endpoint=twin.endpoints["dropcopy"], rewind_endpoint=twin.endpoints["rewind"],
                        control_endpoint=twin.endpoints["control"], status_path=tmp_path / "run" / "capture.json",
                        idle_probe_ms=50, status_interval_s=0.05)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def stream_and_wait(twin: TwinHandle, jdir: Path, count: int) -> int:
    rep = twin.call("sim", {"action": "stream", "count": count, "batch": 500})
    assert rep.ok, rep
    last = int(rep.result["first_seq"]) + count - 1
    wait_for(lambda: (read_durable(jdir) or {}).get("seq", 0) >= last, 60, f"durable seq {last}")
    return last


def rewind_status(path: Path) -> dict[str, Any]:
    doc = read_capture_status(path) or {}
    return dict(doc.get("rewind") or {})


def test_capture_when_session_ended_then_never_asks_for_a_seq_the_core_has_not_produced(
        twin_core_module: TwinHandle, tmp_path: Path) -> None:
    cap = Capture(config(twin_core_module, tmp_path, idle_probe_max_ms=400))
    try:
        last = stream_and_wait(twin_core_module, tmp_path / "journal", 5000)
        probes_before = cap.svc.stats.rewinds
        # The stream is quiet now, as after the close: the capture keeps probing the core's end...
        wait_for(lambda: cap.svc.stats.rewinds >= probes_before + 5, 30, "five idle probes at the end")
        st = cap.svc.stats
        # ...but never for last+1, which the core refused with REWIND_OUT_OF_RANGE once per probe.
        assert "REWIND_OUT_OF_RANGE" not in st.last_error, st.last_error
        assert st.unrecoverable == 0 and st.rewind_failures == 0
        assert cap.svc.journal is not None and cap.svc.journal.last_seq == last
        status = cap.svc.status()["rewind"]
        assert status["state"] == "ok" and status["failures_total"] == 0
        assert status["idle_probe_s"] > 0.05  # probes that found nothing new were spaced out
    finally:
        cap.finish()


def test_capture_when_rewinds_keep_failing_then_backs_off_escalates_once_and_recovers(
        twin_core: TwinHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="core_bridge.dropcopy")
    status_path = tmp_path / "run" / "capture.json"
    cap = Capture(config(twin_core, tmp_path, rewind_timeout_ms=100, idle_probe_max_ms=200,
                         rewind_backoff_ms=50, rewind_backoff_max_ms=400, rewind_escalate_after=3))
    try:
        stream_and_wait(twin_core, tmp_path / "journal", 1000)
        twin_core.stop()  # every rewind now times out

        wait_for(lambda: rewind_status(status_path).get("state") == "escalated", 20, "the escalation")
        wait_for(lambda: rewind_status(status_path).get("consecutive_failures", 0) >= 6, 30,
                 "more failures after escalating")
        status = rewind_status(status_path)
        assert status["delay_s"] == 0.4  # 0.05 doubled per failure, bounded by rewind_backoff_max_ms
        assert status["escalations"] == 1 and "no reply" in status["last_error"]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "escalated" in errors[0].getMessage()  # once, not per retry

        model = TelemetryModel()
        observe_capture(model, read_capture_status(status_path))
        exporter = Exporter(node="primary")
        exporter.update(model)
        scrape = exporter.render().decode()
        assert 'colo_core_capture_rewind_escalated{node="primary"} 1.0' in scrape
        failures = [ln for ln in scrape.splitlines()
                    if ln.startswith('colo_core_capture_rewind_failures_total{node="primary"}')]
        assert failures and float(failures[0].split()[-1]) >= 6

        twin_core.restart()
        wait_for(lambda: rewind_status(status_path).get("state") == "ok", 30, "recovery")
        assert any("recovered" in r.getMessage() for r in caplog.records)
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    finally:
        cap.finish()
    final = orjson.loads(status_path.read_bytes())["rewind"]
    assert final["state"] == "ok" and final["consecutive_failures"] == 0 and final["failures_total"] >= 6
