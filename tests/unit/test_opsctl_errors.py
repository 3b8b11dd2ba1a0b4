"""opsctl's error paths through its real entry point (`run_app`): one line on stderr (or one JSON object on
stdout with --json) and the documented exit code, never a traceback or a boxed panel."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from flows.opsctl.app import run_app


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "╭" not in err
    return lines[0]


@pytest.mark.usefixtures("ops_home")
@pytest.mark.parametrize("argv, needle", [
    (["status", "--date", "2026-13-45"], "--date must be a date YYYY-MM-DD, got '2026-13-45'"),
    (["run", "sod-load", "--date", "12/04/2026"], "--date must be a date YYYY-MM-DD"),
    (["rerun", "sod-load"], "Missing option '--date'"),
    (["run", "no-such-flow"], "no deployment named 'no-such-flow' in infra/prefect.yaml; one of: sod-load"),
    (["status", "--bogus"], "No such option: --bogus"),
    (["recon", "show", "--date", "yesterday"], "--date must be a date YYYY-MM-DD, got 'yesterday'"),
    (["cat", "report", "--date", "2026-02-30"], "--date must be a date YYYY-MM-DD, got '2026-02-30'"),
    (["demo", "--orders", "3"], "Invalid value for '--orders'"),
    (["server", "up", "--port", "0"], "Invalid value for '--port'"),
    (["no-such-command"], "No such command 'no-such-command'"),
    (["fix-dropcopy", "--date", "notadate"], "--date must be a date YYYY-MM-DD, got 'notadate'"),
    (["compliance", "review", "--from", "2026-11-21", "--to", "2026-11-20"], "--from 2026-11-21 is after --to"),
])
def test_opsctl_when_bad_arguments_then_one_usage_line_and_exit_2(
        argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(argv) == 2
    line = _one_line(capsys)
    assert line.startswith("opsctl: usage: ") and needle in line, line


@pytest.mark.usefixtures("ops_home")
def test_opsctl_when_bad_date_with_json_then_a_json_error_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["status", "--date", "2026-13-45", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"ok": False, "error": "usage", "exit_code": 2,
                   "message": "--date must be a date YYYY-MM-DD, got '2026-13-45'"}


def test_opsctl_when_no_server_for_the_home_then_exit_3_naming_the_home(
        ops_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for argv in (["status", "--date", "2026-12-04"], ["rerun", "sod-load", "--date", "2026-12-04"], ["deploy"]):
        assert run_app(argv) == 3, argv
        line = _one_line(capsys)
        assert line.startswith("opsctl: no_server: no Prefect server for data home ") and str(ops_home) in line
        assert "opsctl server up" in line


def test_opsctl_when_prefect_api_url_answers_nothing_then_exit_3(
        ops_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    assert run_app(["status", "--date", "2026-12-04"]) == 3
    assert _one_line(capsys) == f"opsctl: no_server: no Prefect server answers at PREFECT_API_URL=http://127.0.0.1:{port}/api"


def test_server_status_when_not_running_then_exit_3_and_the_home_it_looked_in(
        ops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["server", "status", "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["running"] is False and doc["home"] == str(ops_home)


@pytest.mark.usefixtures("ops_home")
def test_cat_report_when_the_date_has_none_then_exit_3_with_the_next_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["cat", "report", "--date", "2026-12-04"]) == 3
    line = _one_line(capsys)
    assert line.startswith("opsctl: no_report: no CAT report for 2026-12-04") and "opsctl run cat" in line


def test_opsctl_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 ok; 1 a run failed" in out and "3 Prefect server, deployment or report missing" in out
