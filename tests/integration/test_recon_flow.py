"""The `recon` Prefect flow end to end under the real Prefect test harness: fetch → reconcile → store → report →
artifacts and alert; a re-run is byte-identical; a missing clearer file fails the run; opsctl recon works."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from flows.errors import ReconError
from flows.opsctl.common import Fail
from flows.recon import scenarios
from flows.store.db import make_engine, session_scope
from flows.store.models import ReconRun
from tests.integration.recon_world import DAY, make_world


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, object]]]:
    """A real HTTP endpoint on loopback that records the alert JSON posted to it."""
    _Hook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("COLO_OPS_ALERTS_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/alert")
    try:
        yield _Hook.received
    finally:
        server.shutdown()
        server.server_close()


def test_recon_flow_when_run_twice_then_same_breaks_same_report_bytes_and_one_alert(
        prefect_harness: None, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch,
        webhook: list[dict[str, object]]) -> None:
    from prefect.client.orchestration import get_client

    from flows.jobs.recon import recon

    db_url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    _, cday, _ = make_world(tmp_path, db_url, list(scenarios.SCENARIOS), monkeypatch)
    state = recon(date=DAY.isoformat(), return_state=True)
    first = state.result()
    assert first["status"] == "breaks"
    assert len(first["new_breaks"]) == len(cday.expected) == first["found"]
    html, csv = Path(first["report"]), Path(first["csv"])
    assert html.parent == ops_home / "reports" / DAY.isoformat() / "recon"
    html1, csv1 = html.read_bytes(), csv.read_bytes()
    assert b"CORPORATE_ACTION" in html1 and b"<svg" in html1
    assert len(csv1.decode().splitlines()) == 1 + len(cday.expected)
    assert len(webhook) == 1 and webhook[0]["new_breaks"] == len(cday.expected)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        assert "recon-new-breaks" in run.tags

    # Asked over the REST API: Prefect 3.8.8's client sends nulls this server rejects, and empty flow/task-run
    # sub-filters match nothing, so only the artifact filter is sent.
    with get_client(sync_client=True) as client:
        resp = client._client.post("/artifacts/filter", json={
            "artifacts": {"flow_run_id": {"any_": [str(run.id)]}}, "limit": 50, "offset": 0,
            "sort": "CREATED_DESC"})
        resp.raise_for_status()
    keys = {a["key"] for a in resp.json()}
    assert {"recon-open-breaks", "recon-summary", "recon-alert"} <= keys

    second = recon(date=DAY.isoformat())
    assert second["new_breaks"] == [] and second["found"] == first["found"]
    assert html.read_bytes() == html1 and csv.read_bytes() == csv1
    assert len(webhook) == 1  # nothing new: no second alert

    # The on-call view and the sign-off, through opsctl.
    from flows.opsctl.recon import app

    runner = CliRunner()
    shown = runner.invoke(app, ["show", "--date", DAY.isoformat(), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)["breaks"]
    assert sorted((r["btype"], r["key"]) for r in rows) == sorted(cday.expected)
    target = rows[0]["break_id"]
    signed = runner.invoke(app, ["signoff", target, "--who", "oncall", "--note", "checked with the clearer",
                                 "--json"])
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.output)["signoff_by"] == "oncall"
    again = runner.invoke(app, ["signoff", target, "--who", "oncall", "--note", "twice"])
    # CliRunner bypasses opsctl's error guard: the refusal is the Fail it raised (exit 1, kind "refused")
    assert isinstance(again.exception, Fail) and again.exception.code == 1 and again.exception.kind == "refused"
    assert "already signed_off" in again.exception.message
    left = json.loads(runner.invoke(app, ["show", "--date", DAY.isoformat(), "--json"]).output)["breaks"]
    assert len(left) == len(rows) - 1


def test_recon_flow_when_clearing_file_missing_then_run_fails_and_is_recorded_failed(
        prefect_harness: None, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.jobs.recon import recon

    db_url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    world, _, _ = make_world(tmp_path, db_url, [], monkeypatch)
    (world.root / "outgoing" / f"{DAY:%Y%m%d}" / f"eod_positions_{DAY:%Y%m%d}.txt").unlink()
    with pytest.raises(ReconError, match="eod_positions"):
        recon(date=DAY.isoformat())
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            runs = s.scalars(select(ReconRun)).all()
            assert [r.status for r in runs] == ["failed"]
            assert "eod_positions" in runs[0].summary["error"]
    finally:
        engine.dispose()
    assert not (ops_home / "reports" / DAY.isoformat() / "recon" / "recon.html").exists()


def test_recon_flow_when_not_a_session_then_ends_cleanly(prefect_harness: None, ops_home: Path) -> None:
    from flows.jobs.recon import recon

    assert recon(date="2026-11-26")["status"] == "not a session"  # Thanksgiving
