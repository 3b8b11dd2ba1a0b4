"""corectl journal verify|tail|stats, mounted the way the corectl root mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from core_bridge.cli.journal import capture_command, journal_app
from core_bridge.journal.segment import HEADER_SIZE, STRIDE
from core_bridge.journal.writer import Journal
from core_bridge.protocol import EventType
from tests.unit.test_journal_writer import events

root = typer.Typer()
root.add_typer(journal_app, name="journal")
root.command("capture")(capture_command)
runner = CliRunner()


def build(jdir: Path) -> None:
    recs = events(1, 1, 250)
    recs["etype"][-1] = EventType.ORDER_FILLED
    with Journal.open(jdir, segment_bytes=HEADER_SIZE + 100 * STRIDE) as j:
        j.append(recs)
        j.commit()


def test_verify_when_intact_then_exit_zero(tmp_path: Path) -> None:
    build(tmp_path)
    res = runner.invoke(root, ["journal", "verify", "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "250 records" in res.output and "OK" in res.output


def test_verify_when_byte_flipped_then_exit_one_naming_place(tmp_path: Path) -> None:
    build(tmp_path)
    path = next(tmp_path.glob("00000002-*.seg"))
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + 42 * STRIDE + 9] ^= 0x10
    path.write_bytes(bytes(data))
    res = runner.invoke(root, ["journal", "verify", "--dir", str(tmp_path)])
    assert res.exit_code == 1
    assert f"DAMAGED record_crc: {path.name} record 42 (seq 143)" in res.output
    res = runner.invoke(root, ["journal", "verify", "--dir", str(tmp_path), "--json"])
    doc = json.loads(res.output)
    assert res.exit_code == 1 and doc["ok"] is False
    assert doc["problems"][0] | {"message": ""} == {"kind": "record_crc", "file": path.name, "record": 42,
                                                   "seq": 143, "message": ""}


def test_verify_when_directory_missing_then_exit_two(tmp_path: Path) -> None:
    res = runner.invoke(root, ["journal", "verify", "--dir", str(tmp_path / "nope")])
    assert res.exit_code == 2


def test_tail_when_asked_then_last_records_in_new_york_time(tmp_path: Path) -> None:
    build(tmp_path)
    res = runner.invoke(root, ["journal", "tail", "-n", "3", "--dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["records"]
    assert [r["seq"] for r in rows] == [248, 249, 250]
    assert rows[-1]["etype"] == "ORDER_FILLED" and rows[0]["time"].startswith("2025-11-22 03:")


def test_stats_when_no_capture_running_then_journal_figures(tmp_path: Path) -> None:
    build(tmp_path)
    res = runner.invoke(root, ["journal", "stats", "--dir", str(tmp_path), "--home", str(tmp_path / "h"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert (doc["segments"], doc["sealed"], doc["epochs"]) == (3, 2, [1])
    assert doc["durable"]["seq"] == 250 and doc["capture"] is None
    res = runner.invoke(root, ["journal", "stats", "--dir", str(tmp_path), "--home", str(tmp_path / "h")])
    assert "durable epoch 1 seq 250" in res.output


def test_capture_help_when_mounted_then_lists_options() -> None:
    res = runner.invoke(root, ["capture", "--help"])
    assert res.exit_code == 0 and "--dropcopy" in res.output and "--sub-hwm" in res.output


def test_seal_when_no_writer_then_active_segment_sealed(tmp_path: Path) -> None:
    build(tmp_path)
    res = runner.invoke(root, ["journal", "seal", "--dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    sealed = json.loads(res.output)["sealed"]
    assert (sealed["first_seq"], sealed["last_seq"], sealed["count"]) == (201, 250, 50)
    assert not list(tmp_path.glob("*.open"))
    res = runner.invoke(root, ["journal", "seal", "--dir", str(tmp_path)])
    assert res.exit_code == 0 and "nothing to seal" in res.output
