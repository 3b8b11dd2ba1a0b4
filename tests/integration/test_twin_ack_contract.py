"""Protocol v2's ack contract on the twin (docs/protocol.md §3.8): a tightening control is acked when applied,
before it is durable, and a follow-up / the heartbeat say when it is; a loosening one is acked only once
durable; v1 requests keep v1 semantics; an unclean stop comes back HALTED, a clean one restores the state.

The apply-to-durable window is widened with the twin's test-only flush delay
(`COLO_OPS_TWIN_TEST_COMMIT_DELAY_MS`), so a kill -9 lands inside it on purpose."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import zmq

from core_bridge.protocol import TELEMETRY_TOPIC_HEARTBEAT, Command, Reply, Request
from hw.twin.groupcommit import TEST_DELAY_ENV
from hw.twin.launch import TwinHandle, start_twin
from hw.twin.statestore import CLEAN_FILE
from tests.fixtures.twin import curve_dealer, curve_sub, request, rpc

DELAY_MS = 400


@pytest.fixture
def slow_twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TwinHandle:
    """A provisioned twin whose group commit waits DELAY_MS before each flush."""
    monkeypatch.setenv(TEST_DELAY_ENV, str(DELAY_MS))
    handle = start_twin(tmp_path / "home")
    yield handle
    handle.stop()


def kill_req(scope: str, key: str | None, level: str, *, notify: bool = False, v: int = 2) -> Request:
    r = request(Command.SET_KILL, {"scope": scope, "key": key, "level": level})
    r.durable_notify, r.v = notify, v
    return r


def timed(sock: zmq.Socket, req: Request) -> tuple[Reply, float]:
    t0 = time.monotonic()
    rep = rpc(sock, req)
    return rep, time.monotonic() - t0


def test_tightening_when_applied_then_acked_before_durable_and_follow_up_says_durable(slow_twin: TwinHandle) -> None:
    op, hb = curve_dealer(slow_twin), curve_sub(slow_twin, topic=TELEMETRY_TOPIC_HEARTBEAT)
    try:
        ack, took = timed(op, kill_req("symbol", "AAPL", "HALTED", notify=True))
        assert ack.ok and not ack.durable and ack.durable_version is not None
        assert ack.durable_version < ack.state_version and took < DELAY_MS / 1000 / 2
        assert op.poll(5000), "no durable follow-up"
        note = Reply.decode(op.recv())
        assert (note.id, note.followup, note.state_version, note.durable) == (ack.id, "durable", ack.state_version,
                                                                              True)
        # cancel_all and a limit decrease are tightening too; a limit *raise* is a loosening (below)
        cancel, took = timed(op, request(Command.CANCEL_ALL, {"scope": "firm", "key": None}))
        assert cancel.ok and not cancel.durable and took < DELAY_MS / 1000 / 2
        lower, took = timed(op, request(Command.SET_LIMITS, {"account": None, "limits": {"max_order_qty": 5000},
                                                             "approver": "risk"}))
        assert lower.ok and not lower.durable and took < DELAY_MS / 1000 / 2
        # the heartbeat publishes the durable version
        deadline = time.monotonic() + 5
        durable = -1
        while time.monotonic() < deadline and durable < lower.state_version:
            if hb.poll(500):
                durable = orjson.loads(hb.recv_multipart()[1])["durable_version"]
        assert durable >= lower.state_version
        assert rpc(op, Command.STATUS).result["durable_version"] >= lower.state_version
    finally:
        op.close(0)
        hb.close(0)


def test_loosening_when_applied_then_acked_only_once_durable(slow_twin: TwinHandle) -> None:
    op = curve_dealer(slow_twin)
    try:
        rpc(op, kill_req("account", "PROP01", "HALTED"))
        resume, took = timed(op, kill_req("account", "PROP01", "ACTIVE"))
        assert resume.ok and resume.durable and took >= DELAY_MS / 1000 * 0.8
        raise_, took = timed(op, request(Command.SET_LIMITS, {"account": None, "limits": {"max_order_qty": 20000},
                                                              "approver": "risk"}))
        assert raise_.ok and raise_.durable and took >= DELAY_MS / 1000 * 0.8
        longer, took = timed(op, request(Command.SET_LIMITS, {"account": None, "approver": "risk",
                                                              "limits": {"duplicate_window_ms": 500}}))
        assert longer.ok and not longer.durable  # a longer duplicate window restricts more: tightening
        rpc(op, request(Command.SET_RESTRICTED, {"symbols": ["TSLA", "SPY"]}))
        removal, took = timed(op, request(Command.SET_RESTRICTED, {"symbols": ["SPY"]}))
        assert removal.ok and removal.durable and took >= DELAY_MS / 1000 * 0.8
        # other state-changing commands (here BP) are acked once durable as well
        bp, took = timed(op, request(Command.SET_BP, {"bp": {"PROP01": "100"}, "as_of_ns": 1}))
        assert bp.ok and bp.durable
        # a v1 request keeps v1's contract: every ack of a change is durable, and has no durable_version
        v1, took = timed(op, kill_req("symbol", "MSFT", "HALTED", v=1))
        assert v1.ok and v1.v == 1 and v1.durable_version is None and took >= DELAY_MS / 1000 * 0.8
        hello = rpc(op, request(Command.HELLO))
        assert hello.result["protocol"] == 2 and hello.result["versions"] == [1, 2]
    finally:
        op.close(0)


def test_kill9_when_between_apply_and_durable_then_comes_back_halted(slow_twin: TwinHandle,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    op = curve_dealer(slow_twin)
    try:
        before = rpc(op, Command.STATUS).result
        assert before["trading_state"] == "ACTIVE" and before["start"] == "clean"
        ack = rpc(op, kill_req("account", "PROP02", "HALTED"))
        assert ack.ok and not ack.durable  # applied: PROP02 stops trading now; on disk only after the delay
    finally:
        op.close(0)
    slow_twin.kill()  # inside the window: the record was never written
    assert not (slow_twin.state_dir / CLEAN_FILE).exists()
    monkeypatch.delenv(TEST_DELAY_ENV)
    slow_twin.restart()
    st = slow_twin.call(Command.STATUS).result
    # the acked kill did not reach the disk, yet nothing comes back ACTIVE: the firm is HALTED
    assert st["kill"]["account"] == {} and st["state_version"] == before["state_version"] + 1
    assert (st["trading_state"], st["state_unknown"], st["start"]) == ("HALTED", True, "unclean")
    assert st["durable_version"] == st["state_version"]


def test_stop_when_clean_then_state_restored_and_marker_taken(slow_twin: TwinHandle) -> None:
    rep = slow_twin.call(Command.SET_KILL, {"scope": "symbol", "key": "AAPL", "level": "CANCEL_ONLY"})
    assert rep.ok
    slow_twin.stop()  # SIGTERM: flush, snapshot, clean-shutdown marker last
    assert (slow_twin.state_dir / CLEAN_FILE).exists()
    slow_twin.restart()
    assert not (slow_twin.state_dir / CLEAN_FILE).exists()  # taken at start: a crash from here is unclean
    st = slow_twin.call(Command.STATUS).result
    assert (st["trading_state"], st["state_unknown"], st["start"]) == ("ACTIVE", False, "clean")
    assert st["kill"]["symbol"] == {"AAPL": "CANCEL_ONLY"} and st["state_version"] == rep.state_version
