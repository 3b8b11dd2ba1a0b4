"""The `controls-report` flow on the session's Prefect harness: the report files, the artifact people read
(summary table + link over `reports.base_url`), and a re-run for the date writing the same bytes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_report_artifacts import _artifacts

DAY = "2026-11-20"
BASE = "http://127.0.0.1:8765/reports"


def test_controls_report_flow_when_run_twice_then_artifact_link_and_same_bytes(
        prefect_harness: None, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core_bridge.settings import load_settings
    from flows.controls.run import run_controls_report
    from flows.jobs.controls_report import controls_report

    monkeypatch.setenv("COLO_OPS_REPORTS_BASE_URL", BASE)
    state = controls_report(date=DAY, return_state=True)
    out: dict[str, Any] = state.result()
    arts = _artifacts(state.state_details.flow_run_id)
    md = arts["controls-report"]["data"]
    assert md.startswith(f"# 15c3-5 controls {DAY}") and "| every raise under four eyes | True |" in md
    assert f"[controls_{DAY}.html]({BASE}/{DAY}/controls/controls_{DAY}.html)" in md
    assert arts["controls-report-link"]["data"] == f"[controls_{DAY}.html]({BASE}/{DAY}/controls/controls_{DAY}.html)"
    files = [Path(p) for p in out["outputs"]]
    assert [p.name for p in files] == [f"controls_{DAY}.html", f"controls_{DAY}.json"]
    first = [p.read_bytes() for p in files]
    assert b"no kill events on 2026-11-20" in first[0]
    # a re-run for the date (the flow's own wiring, without a second Prefect run: that costs seconds here)
    run_controls_report(load_settings(), dt.date.fromisoformat(DAY))
    assert [p.read_bytes() for p in files] == first
