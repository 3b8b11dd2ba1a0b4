"""opsctl against a real Prefect server (the session's harness): `status` exits 1 while the latest run of a
flow for the date failed and 0 once a later run repaired it; `rerun` of a deployment the server lacks says
so in one line and exits 3."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows.opsctl.app import run_app


@pytest.fixture
def harness_api(prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """opsctl finds its server through PREFECT_API_URL; the harness sets it only in Prefect's settings."""
    from prefect.settings import PREFECT_API_URL

    url = str(PREFECT_API_URL.value())
    monkeypatch.setenv("PREFECT_API_URL", url)
    return url


@pytest.mark.usefixtures("ops_home")
def test_status_when_latest_run_failed_then_exit_1_and_0_after_a_repairing_run(
        harness_api: str, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect import flow

    @flow(name="opsctl-status-probe")
    def probe(date: str, fail: bool) -> str:
        if fail:
            raise RuntimeError("seeded failure")
        return date

    day = "2031-03-14"  # a date no other test runs flows for
    assert probe(date=day, fail=True, return_state=True).is_failed()
    capsys.readouterr()
    assert run_app(["status", "--date", day, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["failed"] == ["opsctl-status-probe"]
    assert [r["state"] for r in doc["runs"]] == ["Failed"]

    assert run_app(["status", "--date", day]) == 1
    assert "failed (latest run): opsctl-status-probe" in capsys.readouterr().err

    assert probe(date=day, fail=False, return_state=True).is_completed()
    capsys.readouterr()
    assert run_app(["status", "--date", day, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["failed"] == []
    assert sorted(r["state"] for r in doc["runs"]) == ["Completed", "Failed"]


def test_rerun_when_the_deployment_is_not_on_the_server_then_exit_3_in_one_line(
        harness_api: str, ops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.orchestration.apply import apply_plan

    async def drop(name: str) -> None:
        async with get_client() as client:
            try:
                dep = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                return
            await client.delete_deployment(dep.id)

    asyncio.run(drop("locates/locates"))
    try:
        assert run_app(["rerun", "locates", "--date", "2026-12-04"]) == 3
        err = capsys.readouterr().err.strip()
        assert err == (f"opsctl: no_deployment: deployment locates/locates is not on the Prefect server at "
                       f"{harness_api}: run `opsctl deploy`")
    finally:
        asyncio.run(apply_plan(alerts_url=""))  # put it back for the session's other tests
