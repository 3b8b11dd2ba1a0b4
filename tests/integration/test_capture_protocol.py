"""Capture against an in-test core publisher that speaks the wire protocol (CURVE XPUB + ROUTER).

The publisher is a faithful stand-in for the core's drop-copy side only: it keeps every record it
published per epoch and serves rewinds exactly as core_bridge/protocol.py documents them. Tests make it
skip batches, change epoch and send garbage, and check that the journal ends complete and verified.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import zmq

from core_bridge.auth import KeyRegistry, ServerAuth, configure_server, generate_keyset, server_keypair
from core_bridge.dropcopy.config import CaptureConfig
from core_bridge.dropcopy.service import CaptureService
from core_bridge.journal.reader import iter_records
from core_bridge.journal.segment import read_durable
from core_bridge.journal.verify import verify
from core_bridge.protocol import DROPCOPY_TOPIC, EVENT_DTYPE, REWIND_CHUNK, EventType, Side, encode_batch
from core_bridge.reasons import ReasonCode
from tests.polling import wait_for


def make_events(epoch: int, first: int, n: int) -> np.ndarray:
    recs = np.zeros(n, dtype=EVENT_DTYPE)
    recs["seq"] = np.arange(first, first + n, dtype=np.uint64)
    recs["epoch"] = epoch
    recs["ts_ns"] = 1_763_800_000_000_000_000 + recs["seq"].astype(np.int64)
    recs["etype"] = EventType.ORDER_NEW
    recs["account"] = b"ACC1"
    recs["symbol"] = b"MSFT"
    return recs


class ProtocolCore:
    """Drop-copy XPUB + rewind ROUTER, CURVE server with ZAP against roles.json."""

    def __init__(self, keys_dir: Path, pub_hwm: int = 0) -> None:
        self.ctx = zmq.Context()
        self.auth = ServerAuth(self.ctx, KeyRegistry.load(keys_dir))
        keys = server_keypair(keys_dir)
        self.pub = self.ctx.socket(zmq.XPUB)
        configure_server(self.pub, keys)
        self.pub.linger = 0
        if pub_hwm:
            self.pub.sndhwm = pub_hwm
        self.pub_endpoint = f"tcp://127.0.0.1:{self.pub.bind_to_random_port('tcp://127.0.0.1')}"
        self.router = self.ctx.socket(zmq.ROUTER)
        configure_server(self.router, keys)
        self.router.linger = 0
        self.rewind_endpoint = f"tcp://127.0.0.1:{self.router.bind_to_random_port('tcp://127.0.0.1')}"
        self.epochs: dict[int, np.ndarray] = {}
        self.lock = threading.Lock()
        self.rewinds = 0
        self.subscribers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_rewind, daemon=True)
        self._thread.start()

    def wait_subscribed(self, count: int = 1) -> None:
        def seen() -> bool:
            while self.pub.poll(0):
                msg = self.pub.recv()
                if msg[:1] == b"\x01":
                    self.subscribers += 1
            return self.subscribers >= count
        wait_for(seen, what="a drop-copy subscriber")

    def publish(self, recs: np.ndarray, batch: int = 100, skip: set[int] | None = None) -> None:
        """Store then publish `recs` in batches; batch numbers in `skip` are kept for rewind but not sent."""
        epoch = int(recs["epoch"][0])
        with self.lock:
            old = self.epochs.get(epoch, np.zeros(0, EVENT_DTYPE))
            self.epochs[epoch] = np.concatenate([old, recs])
        for k, i in enumerate(range(0, len(recs), batch)):
            if skip and k in skip:
                continue
            hdr, payload = encode_batch(recs[i : i + batch])
            self.pub.send_multipart([DROPCOPY_TOPIC, hdr, payload])

    def send_raw(self, frames: list[bytes]) -> None:
        self.pub.send_multipart(frames)

    def _serve_rewind(self) -> None:
        while not self._stop.is_set():
            if not self.router.poll(20):
                continue
            ident, body = self.router.recv_multipart()
            self.rewinds += 1
            req = orjson.loads(body)
            epoch, lo, hi = int(req["epoch"]), int(req["from_seq"]), int(req["to_seq"])
            with self.lock:
                recs = self.epochs.get(epoch)
            if recs is None:
                self.router.send_multipart([ident, orjson.dumps(
                    {"end": True, "epoch": epoch, "last_seq": 0, "code": ReasonCode.REWIND_EPOCH_UNKNOWN.name})])
                continue
            last = len(recs)
            if lo < 1 or hi < lo or hi > last:  # strict, like the twin: nothing beyond the end
                self.router.send_multipart([ident, orjson.dumps(
                    {"end": True, "epoch": epoch, "last_seq": last, "code": ReasonCode.REWIND_OUT_OF_RANGE.name})])
                continue
            want = recs[lo - 1 : hi]
            for i in range(0, len(want), REWIND_CHUNK):
                self.router.send_multipart([ident, *encode_batch(want[i : i + REWIND_CHUNK])])
            self.router.send_multipart([ident, orjson.dumps(
                {"end": True, "epoch": epoch, "last_seq": last, "code": "OK"})])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.pub.close(0)
        self.router.close(0)
        self.auth.stop()
        self.ctx.term()


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    kd = tmp_path / "keys"
    generate_keyset(kd)
    return kd


@pytest.fixture
def core(keys: Path) -> Iterator[ProtocolCore]:
    c = ProtocolCore(keys)
    yield c
    c.close()


class Running:
    def __init__(self, cfg: CaptureConfig) -> None:
        self.svc = CaptureService(cfg)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.svc.run(self.stop)
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert self.error is None, self.error


def config(tmp_path: Path, keys: Path, core: ProtocolCore, **kw: object) -> CaptureConfig:
    cfg = CaptureConfig(journal_dir=tmp_path / "journal", keys_dir=keys, dropcopy_endpoint=core.pub_endpoint,
                        rewind_endpoint=core.rewind_endpoint, status_path=tmp_path / "run" / "capture.json",
                        positions_path=tmp_path / "run" / "positions.json", idle_probe_ms=100)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def journal_seqs(jdir: Path) -> list[tuple[int, int]]:
    parts = list(iter_records(jdir))
    if not parts:
        return []
    allr = np.concatenate(parts)
    return list(zip(allr["epoch"].tolist(), allr["seq"].tolist(), strict=True))


def durable_at(jdir: Path, epoch: int, seq: int) -> Callable[[], bool]:
    def check() -> bool:
        d = read_durable(jdir)
        return d is not None and (int(d["epoch"]), int(d["seq"])) >= (epoch, seq)
    return check


def test_capture_when_batches_skipped_then_gaps_rewound_and_journal_complete(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    cfg = config(tmp_path, keys, core)
    run = Running(cfg)
    core.wait_subscribed()
    core.publish(make_events(1, 1, 5000), batch=100, skip={0, 7, 8, 30, 49})  # 49 is the tail
    wait_for(durable_at(cfg.journal_dir, 1, 5000), what="durable seq 5000")
    run.finish()
    assert journal_seqs(cfg.journal_dir) == [(1, s) for s in range(1, 5001)]
    assert verify(cfg.journal_dir).ok
    st = run.svc.stats
    assert st.gaps >= 2 and st.rewound_events >= 400 and st.malformed == 0


def test_capture_when_tiny_high_water_mark_then_ends_complete_by_rewind(tmp_path: Path, keys: Path) -> None:
    core = ProtocolCore(keys, pub_hwm=2)
    try:
        cfg = config(tmp_path, keys, core, sub_hwm=2)
        run = Running(cfg)
        core.wait_subscribed()
        core.publish(make_events(7, 1, 60_000), batch=50)
        wait_for(durable_at(cfg.journal_dir, 7, 60_000), what="durable seq 60000")
        run.finish()
        assert journal_seqs(cfg.journal_dir) == [(7, s) for s in range(1, 60_001)]
        assert verify(cfg.journal_dir).ok
    finally:
        core.close()


def test_capture_when_epoch_changes_then_old_tail_and_new_head_rewound(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    cfg = config(tmp_path, keys, core, idle_probe_ms=60_000)  # no idle probe: the epoch change must do it
    run = Running(cfg)
    core.wait_subscribed()
    core.publish(make_events(1, 1, 1000), batch=100, skip={9})
    core.publish(make_events(2, 1, 500), batch=100, skip={0, 1})
    wait_for(durable_at(cfg.journal_dir, 2, 500), what="epoch 2 seq 500")
    run.finish()
    assert journal_seqs(cfg.journal_dir) == [(1, s) for s in range(1, 1001)] + [(2, s) for s in range(1, 501)]
    rep = verify(cfg.journal_dir)
    assert rep.ok and rep.epochs == [1, 2]
    assert run.svc.stats.epoch_changes == 1


def test_capture_when_frames_malformed_then_counted_and_dropped(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    cfg = config(tmp_path, keys, core)
    run = Running(cfg)
    core.wait_subscribed()
    good = make_events(3, 1, 300)
    hdr, payload = encode_batch(good[:100])
    bad_seq = good[100:200].copy()
    bad_seq["seq"][50] = 999
    core.publish(good[:100])
    for frames in ([DROPCOPY_TOPIC, hdr], [DROPCOPY_TOPIC, b"\x00" * 3, payload], [DROPCOPY_TOPIC, hdr, payload[:-1]],
                   [DROPCOPY_TOPIC, hdr[:2] + b"\xff" + hdr[3:], payload],
                   [DROPCOPY_TOPIC, *encode_batch(good[:1])[:1], bad_seq.tobytes()], [b"dcx", hdr, payload, b""]):
        core.send_raw(frames)
    core.publish(good[100:])
    wait_for(durable_at(cfg.journal_dir, 3, 300), what="durable seq 300")
    run.finish()
    assert journal_seqs(cfg.journal_dir) == [(3, s) for s in range(1, 301)]
    assert run.svc.stats.malformed >= 5


def test_capture_when_restarted_then_resumes_and_rewinds_what_it_missed(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    cfg = config(tmp_path, keys, core)
    run = Running(cfg)
    core.wait_subscribed()
    core.publish(make_events(1, 1, 2000))
    wait_for(durable_at(cfg.journal_dir, 1, 2000), what="first run durable")
    run.finish()
    core.publish(make_events(1, 2001, 3000))  # while the capture is down
    run = Running(cfg)
    wait_for(durable_at(cfg.journal_dir, 1, 5000), what="catch-up after restart")
    run.finish()
    assert journal_seqs(cfg.journal_dir) == [(1, s) for s in range(1, 5001)]
    assert verify(cfg.journal_dir).ok


def test_capture_when_fills_captured_then_positions_in_status_files(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    cfg = config(tmp_path, keys, core, status_interval_s=0.05)
    run = Running(cfg)
    core.wait_subscribed()
    recs = make_events(1, 1, 4)
    recs["etype"] = EventType.ORDER_FILLED
    recs["account"] = [b"ACC1", b"ACC1", b"ACC2", b"ACC1"]
    recs["symbol"] = [b"AAPL", b"AAPL", b"AAPL", b"MSFT"]
    recs["side"] = [Side.BUY, Side.SELL, Side.SHORT, Side.BUY]
    recs["last_qty"] = [300, 100, 50, 10]
    recs["last_px"] = [1_901_200, 1_902_500, 1_900_000, 4_100_000]
    core.publish(recs)

    def status_has_fills() -> bool:
        try:
            doc = orjson.loads(cfg.status_path.read_bytes())  # type: ignore[union-attr]
        except (FileNotFoundError, orjson.JSONDecodeError):
            return False
        return bool(doc["post_trade"]["fills"] == 4)
    wait_for(status_has_fills, what="fills in capture.json")
    run.finish()
    doc = orjson.loads(cfg.status_path.read_bytes())  # type: ignore[union-attr]
    assert doc["post_trade"]["accounts"]["ACC1"] == {
        "gross_exposure": "42150", "net_exposure": "42150", "open_positions": 2}  # 200*190.25 + 10*410
    assert doc["post_trade"]["accounts"]["ACC2"]["net_exposure"] == "-9500"
    pos = orjson.loads(cfg.positions_path.read_bytes())["positions"]  # type: ignore[union-attr]
    assert [(p["account"], p["symbol"], p["net_qty"]) for p in pos] == [
        ("ACC1", "AAPL", 200), ("ACC1", "MSFT", 10), ("ACC2", "AAPL", -50)]
    from typer.testing import CliRunner

    from core_bridge.cli.journal import journal_app

    res = CliRunner().invoke(journal_app, ["stats", "--home", str(tmp_path), "--dir", str(cfg.journal_dir),
                                           "--positions", "--json"])
    assert res.exit_code == 0, res.output
    stats = orjson.loads(res.output)
    assert stats["capture"]["durable"] == {"epoch": 1, "seq": 4}
    assert stats["capture"]["post_trade"]["accounts"]["ACC2"]["gross_exposure"] == "9500"
    assert len(stats["positions"]) == 3


def test_capture_process_when_sigterm_then_exits_cleanly_with_final_status(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "COLO_OPS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core_bridge.dropcopy", "--home", str(home), "--keys", str(keys),
         "--dropcopy", core.pub_endpoint, "--rewind", core.rewind_endpoint, "--control", "none"], env=env)
    try:
        core.wait_subscribed()
        core.publish(make_events(1, 1, 1000))
        wait_for(durable_at(home / "journal", 1, 1000), what="durable 1000 from the subprocess")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = orjson.loads((home / "run" / "capture.json").read_bytes())
    assert status["durable"] == {"epoch": 1, "seq": 1000}
    assert verify(home / "journal").ok


def test_capture_when_restarted_then_positions_resume_from_checkpoint_without_double_counting(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    cfg = config(tmp_path, keys, core, status_interval_s=0.05)

    def fills(first: int, n: int) -> np.ndarray:
        recs = make_events(1, first, n)
        recs["etype"] = EventType.ORDER_FILLED
        recs["side"] = Side.BUY
        recs["last_qty"] = 10
        recs["last_px"] = 1_000_000
        return recs

    run = Running(cfg)
    core.wait_subscribed()
    core.publish(fills(1, 3000))
    wait_for(durable_at(cfg.journal_dir, 1, 3000), what="first run durable")
    run.finish()
    saved = orjson.loads(cfg.positions_path.read_bytes())  # type: ignore[union-attr]
    assert saved["as_of"] == [1, 3000]
    core.publish(fills(3001, 2000))  # while the capture is down
    run = Running(cfg)
    wait_for(durable_at(cfg.journal_dir, 1, 5000), what="catch-up after restart")
    run.finish()
    assert run.svc.book.as_of == (1, 5000)
    assert [(r["account"], r["symbol"], r["net_qty"], r["fills"]) for r in run.svc.book.snapshot()] == [
        ("ACC1", "MSFT", 50_000, 5000)]


def test_seal_journal_when_capture_running_then_capture_seals_and_keeps_appending(
        tmp_path: Path, keys: Path, core: ProtocolCore) -> None:
    from core_bridge.journal.reader import iter_sealed_segments
    from core_bridge.journal.seal import seal_journal

    cfg = config(tmp_path, keys, core, status_interval_s=0.05)
    run = Running(cfg)
    core.wait_subscribed()
    core.publish(make_events(1, 1, 1000))
    wait_for(durable_at(cfg.journal_dir, 1, 1000), what="durable 1000")
    info = seal_journal(cfg.journal_dir, timeout_s=10)
    assert info is not None and (info.first_seq, info.last_seq) == (1, 1000)
    core.publish(make_events(1, 1001, 500))
    wait_for(durable_at(cfg.journal_dir, 1, 1500), what="durable 1500 after the seal")
    run.finish()
    assert [(s.first_seq, s.last_seq) for s in iter_sealed_segments(cfg.journal_dir)] == [(1, 1000)]
    assert journal_seqs(cfg.journal_dir) == [(1, s) for s in range(1, 1501)]
    assert verify(cfg.journal_dir).ok
