"""Capture against the real twin core: tiny receive high-water mark, and tamper detection on a captured journal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from core_bridge.cli.journal import journal_app
from core_bridge.dropcopy.config import CaptureConfig
from core_bridge.dropcopy.service import CaptureService
from core_bridge.journal.reader import iter_records
from core_bridge.journal.segment import HEADER_SIZE, STRIDE, list_segments, read_durable
from core_bridge.journal.verify import verify
from hw.twin.launch import TwinHandle
from tests.polling import wait_for


class Capture:
    def __init__(self, cfg: CaptureConfig) -> None:
        self.svc = CaptureService(cfg)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.svc.run(self.stop)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(20)
        assert self.error is None, self.error


@pytest.fixture
def capture_of(twin_core_module: TwinHandle, tmp_path: Path) -> Iterator[Callable[..., Capture]]:
    started: list[Capture] = []

    def start(**kw: object) -> Capture:
        cfg = CaptureConfig(journal_dir=tmp_path / "journal", keys_dir=twin_core_module.keys_dir,
                            dropcopy_endpoint=twin_core_module.endpoints["dropcopy"],
                            rewind_endpoint=twin_core_module.endpoints["rewind"],
                            control_endpoint=twin_core_module.endpoints["control"], idle_probe_ms=100)
        for k, v in kw.items():
            setattr(cfg, k, v)
        cap = Capture(cfg)
        started.append(cap)
        return cap

    yield start
    for cap in started:
        cap.stop.set()
        cap.thread.join(20)


def stream_and_wait(twin: TwinHandle, jdir: Path, count: int, batch: int) -> tuple[int, int]:
    rep = twin.call("sim", {"action": "stream", "count": count, "batch": batch})
    assert rep.ok, rep
    epoch, last = int(rep.result["epoch"]), int(rep.result["first_seq"]) + count - 1
    wait_for(lambda: (read_durable(jdir) or {}).get("seq", 0) >= last, 60, f"durable seq {last}")
    return epoch, last


def test_capture_when_receive_high_water_mark_tiny_then_complete_by_rewind(
        twin_core_module: TwinHandle, capture_of: Callable[..., Capture], tmp_path: Path) -> None:
    cap = capture_of(sub_hwm=1)
    wait_for(lambda: cap.svc.journal is not None, 10, "the capture to open its journal")
    epoch, last = stream_and_wait(twin_core_module, tmp_path / "journal", 200_000, 10)
    cap.finish()
    seqs = np.concatenate([r["seq"] for r in iter_records(tmp_path / "journal")])
    assert bool(np.array_equal(seqs, np.arange(1, last + 1, dtype=np.uint64)))
    assert verify(tmp_path / "journal").ok
    assert cap.svc.stats.malformed == 0


def test_journal_verify_when_captured_journal_tampered_then_names_exact_place(
        twin_core_module: TwinHandle, capture_of: Callable[..., Capture], tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    cap = capture_of(segment_bytes=HEADER_SIZE + 2000 * STRIDE)
    wait_for(lambda: cap.svc.journal is not None, 10, "the capture to open its journal")
    stream_and_wait(twin_core_module, jdir, 9000, 1000)
    cap.finish()
    runner = CliRunner()
    assert runner.invoke(journal_app, ["verify", "--dir", str(jdir)]).exit_code == 0
    segs = list_segments(jdir)
    assert sum(1 for s in segs if s[3]) >= 3

    _, _, first, _, path = segs[1]
    original = path.read_bytes()
    flipped = bytearray(original)
    flipped[HEADER_SIZE + 17 * STRIDE + 70] ^= 0x04
    path.write_bytes(bytes(flipped))
    res = runner.invoke(journal_app, ["verify", "--dir", str(jdir)])
    assert res.exit_code == 1
    assert f"DAMAGED record_crc: {path.name} record 17 (seq {first + 17})" in res.output.splitlines()[1]
    path.write_bytes(original)

    _, _, first3, _, path3 = segs[2]
    path3.unlink()
    res = runner.invoke(journal_app, ["verify", "--dir", str(jdir), "--json"])
    assert res.exit_code == 1
    rep = verify(jdir)
    nxt = segs[3][4].name
    assert [(p.kind, p.file) for p in rep.problems][:2] == [("index_gap", nxt), ("chain", nxt)]
    assert rep.problems[2].kind == "seq_gap" and rep.problems[2].seq == first3


def test_capture_when_started_after_a_quiet_stream_then_catches_up_via_hello(
        twin_core_module: TwinHandle, capture_of: Callable[..., Capture], tmp_path: Path) -> None:
    rep = twin_core_module.call("sim", {"action": "stream", "count": 5000, "batch": 500})
    last = int(rep.result["first_seq"]) + 4999
    wait_for(lambda: int(twin_core_module.call("status").result["last_seq"]) >= last, 10, "the stream to end")
    cap = capture_of()  # nothing is published from now on: only hello + rewind can fill the journal
    wait_for(lambda: (read_durable(tmp_path / "journal") or {}).get("seq", 0) >= last, 30, f"durable {last}")
    cap.finish()
    assert cap.svc.stats.live_events == 0
    assert verify(tmp_path / "journal").ok


def test_config_from_home_when_local_twin_running_then_uses_its_endpoints(
        twin_core: TwinHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in twin_core.endpoints:
        monkeypatch.delenv(f"COLO_OPS_CORE_PRIMARY_{name.upper()}", raising=False)  # only the twin's file is left
    cfg = CaptureConfig.from_home(twin_core.home)
    assert (cfg.dropcopy_endpoint, cfg.rewind_endpoint, cfg.control_endpoint) == (
        twin_core.endpoints["dropcopy"], twin_core.endpoints["rewind"], twin_core.endpoints["control"])
    assert cfg.keys_dir == twin_core.keys_dir and cfg.status_path == twin_core.home / "run" / "capture.json"


def test_capture_when_core_restarts_into_new_epoch_then_both_epochs_complete(
        twin_core: TwinHandle, tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    cap = Capture(CaptureConfig(journal_dir=jdir, keys_dir=twin_core.keys_dir,
                                dropcopy_endpoint=twin_core.endpoints["dropcopy"],
                                rewind_endpoint=twin_core.endpoints["rewind"],
                                control_endpoint=twin_core.endpoints["control"], idle_probe_ms=100))
    try:
        wait_for(lambda: cap.svc.journal is not None, 10, "the capture to open its journal")
        epoch1, last1 = stream_and_wait(twin_core, jdir, 20_000, 1000)
        twin_core.restart()
        epoch2, last2 = stream_and_wait(twin_core, jdir, 30_000, 1000)
        assert epoch2 > epoch1
        wait_for(lambda: read_durable(jdir) == {**(read_durable(jdir) or {}), "epoch": epoch2, "seq": last2}, 30,
                 "the new epoch durable")
    finally:
        cap.finish()
    got = [(int(e), int(s)) for r in iter_records(jdir) for e, s in zip(r["epoch"], r["seq"], strict=True)]
    assert got == [(epoch1, s) for s in range(1, last1 + 1)] + [(epoch2, s) for s in range(1, last2 + 1)]
    rep = verify(jdir)
    assert rep.ok and rep.epochs == [epoch1, epoch2]
    assert cap.svc.stats.epoch_changes >= 1
