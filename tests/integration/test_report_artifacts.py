"""The report artifacts people read in the Prefect UI, read back from the session harness's server: the ops
report's summary tables (the HA drill table filled from a real drill report) with the report linked over
`reports.base_url`, and the retention run's progress artifact at 100 % with its attestation summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

DAY = "2026-11-20"
BASE = "http://127.0.0.1:8765/reports"


def _artifacts(flow_run_id: Any) -> dict[str, dict[str, Any]]:
    """The run's artifacts by key, over plain REST (Prefect 3.8.8's client sends null sub-filters its server
    rejects)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        resp = client._client.post("/artifacts/filter", json={
            "artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50, "offset": 0,
            "sort": "CREATED_DESC"})
        resp.raise_for_status()
    return {a["key"]: a for a in reversed(resp.json())}


def test_report_flows_when_run_then_summary_link_and_progress_artifacts_read_back(
        prefect_harness: None, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core_bridge.settings import load_settings
    from flows.dates import ny_time_ns
    from flows.ha.checks import StreamCheck
    from flows.ha.measure import DrillResult
    from flows.jobs.ops_report import ops_report
    from flows.jobs.retention import retention
    from flows.store.db import upgrade
    from reports.ha import report_doc, write_report

    settings = load_settings()
    settings.db_dir.mkdir()
    upgrade(settings.db_url)
    drill = DrillResult("primary_crash", fault_method="sigkill",
                        metrics={"detect_ms": 312.4, "accept_ms": 401.0, "gap_free_ms": 655.5},
                        checks={"stream": StreamCheck(1200, 1200, 0, 0, 0, 0, 0).to_dict()})
    write_report(report_doc(DAY, [drill.to_dict()]), settings.reports_dir(DAY) / "ha")

    monkeypatch.setenv("COLO_OPS_REPORTS_BASE_URL", BASE)
    state = ops_report(date=DAY, flows=[{"flow": "ha-drill", "state": "Completed"}], return_state=True)
    out = state.result()
    arts = _artifacts(state.state_details.flow_run_id)
    md = arts["ops-report-summary"]["data"]
    assert arts["ops-report-summary"]["type"] == "markdown"
    assert "| primary_crash | PASS | sigkill | 312.4 | 401.0 | 655.5 | 0 | 0 |" in md
    assert f"[ops-report.html]({BASE}/{DAY}/ops-report.html)" in md and "file://" not in md
    assert f"[ha-drill.html]({BASE}/{DAY}/ha/ha-drill.html)" in md
    assert arts["ops-report"]["data"] == f"[ops-report.html]({BASE}/{DAY}/ops-report.html)"  # a link artifact
    html = Path(out["path"]).read_bytes()
    assert b"primary_crash" in html and f"no breaks for {DAY}".encode() in html
    again = ops_report(date=DAY, flows=[{"flow": "ha-drill", "state": "Completed"}])
    assert Path(again["path"]).read_bytes() == html  # a re-run for the date rewrites the same bytes

    monkeypatch.delenv("COLO_OPS_REPORTS_BASE_URL")
    now = ny_time_ns(dt.date(2026, 11, 22), 2)
    state = retention(date="2026-11-22", now_ns=now, return_state=True)
    res = state.result()
    arts = _artifacts(state.state_details.flow_run_id)
    progress = arts["retention-progress"]
    assert progress["type"] == "progress" and float(progress["data"]) == 100.0
    assert "verification OK" in progress["description"]
    md = arts["retention-attestation"]["data"]
    assert md.startswith("# Retention 2026-11-22: VERIFIED")
    assert f"`{res['attestation'][-1]}`" in md and "file://" not in md  # no base URL: the path as text
    assert "retention-report" not in arts
