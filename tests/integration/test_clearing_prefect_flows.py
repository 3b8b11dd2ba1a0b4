"""The thin Prefect flows under the real test harness: a non-session ends Completed("not a session"); a
session day loads from the local twin source (push off) and a re-run skips the already-loaded files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hw.clearing_twin import publisher
from hw.clearing_twin.book import initial_book


def test_sod_load_flow_when_holiday_then_completed_not_a_session_and_when_rerun_then_files_skipped(
    prefect_harness: None, ops_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.jobs.sod_load import sod_load

    root = ops_home / "clearing_twin"
    publisher.publish_sod(root, dt.date(2026, 11, 12), initial_book())
    monkeypatch.setenv("COLO_OPS_CLEARING_SOURCE", "local")
    monkeypatch.setenv("COLO_OPS_CLEARING_PUSH", "false")

    holiday = sod_load(date="2026-11-26", return_state=True)
    state = sod_load(date="2026-11-12", return_state=True)
    first = state.result()
    second = sod_load(date="2026-11-12")

    assert holiday.is_completed() and "not a session" in (holiday.message or "")
    assert [s for _, s, _ in first["files"]] == ["loaded", "loaded"]
    assert [s for _, s, _ in second["files"]] == ["skipped", "skipped"]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # plain REST: 3.8.8's client sends null sub-filters
        arts = client._client.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {
            "any_": [str(state.state_details.flow_run_id)]}}, "limit": 50, "offset": 0}).json()
    progress = next(a for a in arts if a["key"] == "sod-load-progress")
    assert progress["type"] == "progress" and float(progress["data"]) == 100.0 and "loaded" in progress["description"]
