"""`opsctl archive find|get|verify|hold|release` with --json, through opsctl's entry point (`run_app`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core_bridge.settings import load_settings
from flows.archive import open_archive
from flows.archive.archive import ArchiveRequest
from flows.opsctl.app import run_app

CAT = b"cat events for 2026-11-20"
AUDIT = b'{"cmd":"kill","operator":"ops1"}\n'


def seed(home: Path) -> tuple[str, str]:
    arc = open_archive(load_settings())
    reqs = []
    for rel, data, kind in [
        ("reports/2026-11-20/cat/F_I_20261120_OrderEvents_000001.json.bz2", CAT, "cat_file"),
        ("audit/control-2026-11-20.jsonl", AUDIT, "control_audit"),
    ]:
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        reqs.append(ArchiveRequest(p, rel, kind, dt.date(2026, 11, 20)))
    arc.archive(reqs)
    return hashlib.sha256(CAT).hexdigest(), hashlib.sha256(AUDIT).hexdigest()


_capsys: pytest.CaptureFixture[str] | None = None


@pytest.fixture(autouse=True)
def _capture(capsys: pytest.CaptureFixture[str]) -> None:
    global _capsys
    _capsys = capsys


def run(*args: str) -> tuple[int, dict | list]:  # type: ignore[type-arg]
    assert _capsys is not None
    _capsys.readouterr()
    code = run_app(["archive", *args, "--json"])
    return code, json.loads(_capsys.readouterr().out)


def test_find_when_filtered_by_class_then_only_matching_records(ops_home: Path) -> None:
    cat, audit = seed(ops_home)
    code, rows = run("find", "--class", "market_access_controls")
    assert code == 0
    assert [r["object_id"] for r in rows] == [audit]  # type: ignore[index]
    code, rows = run("find", "--date", "2026-11-20")
    assert sorted(r["object_id"] for r in rows) == sorted([cat, audit])  # type: ignore[index]


def test_get_when_object_held_then_bytes_verified_and_audit_trail_lists_archive_and_hold(
    ops_home: Path, tmp_path: Path
) -> None:
    cat, _ = seed(ops_home)
    code, held = run("hold", cat[:12], "--by", "legal.kim", "--reason", "SEC request 26-114")
    assert code == 0 and held["ok"]  # type: ignore[call-overload]
    out = tmp_path / "got.bin"
    code, doc = run("get", cat[:12], "--out", str(out))
    assert code == 0
    assert out.read_bytes() == CAT
    assert [e["event"] for e in doc["audit_trail"]] == ["archive", "hold"]  # type: ignore[call-overload]
    assert doc["object"]["on_hold"] is True and doc["object"]["retain_until"] == "2029-11-20"  # type: ignore[call-overload]
    assert doc["holds"][0]["actor"] == "legal.kim"  # type: ignore[call-overload]
    assert _capsys is not None
    assert run_app(["archive", "get", cat]) == 0
    human = _capsys.readouterr().out
    assert "ON LEGAL HOLD" in human and "SEC request 26-114" in human


def test_release_when_hold_released_then_trail_has_release_with_who_and_why(ops_home: Path) -> None:
    cat, _ = seed(ops_home)
    run("hold", cat, "--by", "legal", "--reason", "matter A")
    code, rel = run("release", cat, "--by", "legal", "--reason", "matter A closed")
    assert code == 0 and rel["released"][0]["reason"] == "matter A closed"  # type: ignore[call-overload]
    _, doc = run("get", cat)
    assert [e["event"] for e in doc["audit_trail"]] == ["archive", "hold", "release"]  # type: ignore[call-overload]
    assert doc["object"]["on_hold"] is False  # type: ignore[call-overload]


def test_verify_when_byte_flipped_then_exit_1_and_object_named(ops_home: Path) -> None:
    cat, _ = seed(ops_home)
    code, doc = run("verify")
    assert code == 0 and doc["ok"]  # type: ignore[call-overload]
    obj = ops_home / "archive" / "objects" / cat[:2] / cat
    os.chmod(obj, 0o644)
    obj.write_bytes(CAT.replace(b"cat", b"bat"))
    code, doc = run("verify")
    assert code == 1
    assert [(f["check"], f["object_id"]) for f in doc["findings"]] == [("object_corrupt", cat)]  # type: ignore[call-overload]


def test_get_when_unknown_id_then_exit_2_with_error(ops_home: Path) -> None:
    seed(ops_home)
    code, doc = run("get", "deadbeefdeadbeef")
    assert code == 2 and doc["error"] == "archive" and "matches 0" in doc["message"]  # type: ignore[call-overload]


def test_import_when_cli_module_loaded_then_prefect_not_imported() -> None:
    code = "import sys, flows.opsctl.archive; sys.exit(1 if 'prefect' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
