"""`corectl conformance` end to end against the two cores colo-ops has: the Python twin and the reference C
core (the ASan + UBSan build). Both must pass every rule that applies; the twin also runs the restart rule
(an `--allow-restart` command that stops it and starts it again on the same ports), the reference core,
which persists nothing (docs/core_sdk.md), has no restart command and so reports that rule n/a. The reports
(JSON beside HTML) are read back; the reference core must stop with no sanitizer report.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from core_bridge.conformance.runner import RULE_NAMES
from hw.twin.launch import TwinHandle, stop_twin
from tests.integration.test_refcore import refcore_binary, start_refcore  # noqa: F401 - a fixture, used by name

CORECTL = str(Path(sys.executable).with_name("corectl"))


def conformance(endpoints: dict[str, str], keys_dir: Path, report: Path, *extra: str) -> tuple[int, Any, str]:
    argv = [CORECTL, "conformance", "--endpoint", endpoints["control"], "--telemetry", endpoints["telemetry"],
            "--dropcopy", endpoints["dropcopy"], "--rewind", endpoints["rewind"], "--keys-dir", str(keys_dir),
            "--report", str(report), "--stream-seconds", "2", "--json", *extra]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    try:
        doc = json.loads(out.stdout)
    except json.JSONDecodeError:
        doc = out.stdout
    return out.returncode, doc, out.stderr


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["status"] for r in doc["rules"]}


def failures(doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    return {r["name"]: [c for c in r["evidence"].get("checks", []) if not c["ok"]]
            for r in doc["rules"] if r["status"] == "fail"}


def test_conformance_when_run_against_the_twin_then_every_rule_passes_restart_included(
        twin_core: TwinHandle, tmp_path: Path) -> None:
    home, ports = twin_core.home, twin_core.ports
    restart = (f"{shlex.quote(sys.executable)} -c \"from hw.twin.launch import stop_twin, start_twin; "
               f"stop_twin('{home}'); start_twin('{home}', 'primary', ports={ports!r})\"")
    try:
        code, doc, err = conformance(twin_core.endpoints, twin_core.keys_dir, tmp_path / "twin.html",
                                     "--allow-restart", restart)
    finally:
        stop_twin(home)  # the process the restart command started (the fixture stops the first one)
    assert code == 0, (failures(doc), err)
    assert statuses(doc) == dict.fromkeys(RULE_NAMES, "pass")
    assert doc["ok"] is True and doc["protocol"] >= 1 and doc["core"]["core_id"] == "twin-primary"
    restart_rule = doc["rules"][-1]
    assert restart_rule["name"] == "restart" and "epoch 1 -> 2" in restart_rule["summary"]
    written = [Path(p) for p in doc["reports"]]
    assert [p.name for p in written] == ["twin.json", "twin.html"]
    assert json.loads(written[0].read_text())["counts"] == {"pass": len(RULE_NAMES), "fail": 0, "n/a": 0}
    assert "CONFORMS" in written[1].read_text()


def test_conformance_when_run_against_the_asan_refcore_then_every_applicable_rule_passes_and_asan_is_clean(
        refcore_binary: Path, tmp_path: Path) -> None:  # noqa: F811 - the fixture imported above
    core = start_refcore(refcore_binary, tmp_path / "refcore")
    try:
        code, doc, err = conformance(core.endpoints, core.keys_dir, tmp_path / "reports")
        assert code == 0, (failures(doc), err)
        got = statuses(doc)
        assert got == {**dict.fromkeys(RULE_NAMES, "pass"), "restart": "n/a"}
        restart_rule = doc["rules"][-1]
        assert "--allow-restart" in restart_rule["evidence"]["reason"]
        assert doc["core"]["core_id"] == "refcore-primary"
        assert (tmp_path / "reports" / "conformance.json").is_file()
        assert (tmp_path / "reports" / "conformance.html").is_file()
        # text mode: one line per rule with its status, exit 0
        text = subprocess.run([CORECTL, "conformance", "--endpoint", core.endpoints["control"], "--telemetry",
                               core.endpoints["telemetry"], "--dropcopy", core.endpoints["dropcopy"], "--rewind",
                               core.endpoints["rewind"], "--keys-dir", str(core.keys_dir), "--rule", "handshake",
                               "--rule", "idempotent_retry", "--rule", "restart"],
                              capture_output=True, text=True, timeout=60)
        assert text.returncode == 0, text.stdout + text.stderr
        lines = text.stdout.splitlines()
        assert any(line.startswith("PASS  handshake") for line in lines)
        assert any(line.startswith("PASS  idempotent_retry") for line in lines)
        assert any(line.startswith("N/A   restart") for line in lines) and "CONFORMS" in lines[-1]
    finally:
        core.assert_clean_exit()  # exit 0, no AddressSanitizer / LeakSanitizer / UBSan report
