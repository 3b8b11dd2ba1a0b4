"""`opsctl compliance review`: the annual review pack from the daily evidence on disk, and its bad inputs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from core_bridge.protocol import Command
from flows.controls.day import DayInputs, build_controls_day
from flows.controls.limits import LIMITS_FILE
from flows.controls.verification import CASES, StepResult, VerificationRun
from flows.controls.verify_run import verification_doc, write_verification
from flows.opsctl.app import run_app
from reports.controls import write_controls_report

DAYS = [dt.date(2026, 11, 16), dt.date(2026, 11, 18)]  # Mon and Wed; Tue 17 and Fri 20 have no report


def _evidence(home: Path) -> None:
    for d in DAYS:
        inp = DayInputs(day=d, journal_dir=home / "journal", audit_path=home / "audit" / "control.jsonl",
                        limits_file=LIMITS_FILE, controls_dir=home / "reports" / d.isoformat() / "controls", home=home)
        write_controls_report(build_controls_day(inp), inp.controls_dir)
    # a verification run's evidence as the flow files it (every step passed)
    run = VerificationRun([StepResult(c.control, c.boundary, s.label, s.order, s.expect, s.expect, True)
                           for c in CASES for s in c.steps])
    write_verification(verification_doc(DAYS[1], run), home / "reports" / DAYS[1].isoformat())
    recon = home / "reports" / DAYS[0].isoformat() / "recon"
    recon.mkdir(parents=True)
    (recon / "breaks.csv").write_text("break_id,btype,status,account,symbol\nb1,QTY_MISMATCH,OPEN,PROP01,AAPL\n")


def test_review_when_evidence_on_disk_then_pack_lists_inventory_gaps_and_incidents(
        ops_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _evidence(ops_home)
    assert run_app(["compliance", "review", "--from", "2026-11-16", "--to", "2026-11-20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gaps"] == ["2026-11-17", "2026-11-19", "2026-11-20"] and out["sessions"] == 5
    html, js = (Path(f) for f in out["files"])
    assert html.parent == ops_home / "reports" / "2026-11-20" / "compliance"
    pack = json.loads(js.read_text())
    assert all(c["verification"] == "PASS" for c in pack["inventory"])
    assert pack["incidents"]["recon_breaks"][0]["break_id"] == "b1"
    assert {s["name"] for s in pack["sources"]} >= {"controls_2026-11-16.json", "breaks.csv"}
    assert "Chief Executive Officer" in pack["certification"]["text"] and "not legal advice" in html.read_text()
    first = html.read_bytes()
    assert run_app(["compliance", "review", "--from", "2026-11-16", "--to", "2026-11-20"]) == 0
    assert html.read_bytes() == first  # the same evidence gives the same pack


@pytest.mark.usefixtures("ops_home")
@pytest.mark.parametrize(("argv", "needle"), [
    (["--from", "2026-11-32", "--to", "2026-11-20"], "--from must be a date YYYY-MM-DD, got '2026-11-32'"),
    (["--from", "2026-11-16", "--to", "20/11/2026"], "--to must be a date YYYY-MM-DD, got '20/11/2026'"),
    (["--from", "2026-11-20", "--to", "2026-11-16"], "--from 2026-11-20 is after --to 2026-11-16"),
    (["--from", "2024-01-01", "--to", "2026-11-16"], "longer than 400 days"),
    (["--to", "2026-11-16"], "Missing option '--from'"),
])
def test_review_when_bad_period_then_one_usage_line_exit_2_and_nothing_written(
        argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], ops_home: Path) -> None:
    assert run_app(["compliance", "review", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("opsctl: usage: ") and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (ops_home / "reports").exists()


def test_verification_cases_when_listed_then_only_core_commands_are_used() -> None:
    used = {cmd for c in CASES for cmd, _ in (*c.setup, *c.teardown)}
    assert used <= {Command.SET_LIMITS, Command.SET_BP, Command.SET_RESTRICTED, Command.SET_HALTS,
                    Command.SET_LOCATES, Command.SET_KILL, Command.CANCEL_ALL}
