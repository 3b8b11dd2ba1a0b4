"""Twin restarts: unknown state comes up HALTED; known state (kill levels, limits, applied ids) survives;
epochs bump and seq restarts at 1; rewind still serves earlier epochs."""

from __future__ import annotations

import time

import orjson

from core_bridge.protocol import Command, EventType, decode_batch
from hw.twin.launch import TwinHandle
from hw.twin.statestore import STATE_FILE
from tests.fixtures.twin import curve_dealer, request, rpc
from tests.polling import wait_for

BUY = {"action": "new", "clordid": 1, "account": "PROP01", "symbol": "AAPL", "side": "BUY", "qty": 100,
       "price": "229.00", "ord_type": "LIMIT", "tif": "DAY", "venue": "NSDQ"}


def call(handle: TwinHandle, cmd: Command, args: dict | None = None) -> dict:
    rep = handle.call(cmd, args)
    assert rep.ok, rep
    return rep.result


def test_restart_when_state_file_missing_then_comes_up_halted_with_state_unknown(twin_core: TwinHandle) -> None:
    epoch0 = call(twin_core, Command.STATUS)["epoch"]
    twin_core.stop()
    (twin_core.state_dir / STATE_FILE).unlink()
    twin_core.restart()
    st = call(twin_core, Command.STATUS)
    assert (st["trading_state"], st["state_unknown"]) == ("HALTED", True)
    assert st["epoch"] > epoch0  # the event journal still tells which epochs were used
    res = call(twin_core, Command.SUBMIT_ORDERS, {"orders": [BUY]})["results"][0]
    assert res["code"] == "KILL_STATE_UNKNOWN"


def test_restart_when_state_file_corrupt_then_halted_and_damaged_file_kept_aside(twin_core: TwinHandle) -> None:
    twin_core.stop()
    path = twin_core.state_dir / STATE_FILE
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    path.write_bytes(bytes(raw))
    twin_core.restart()
    st = call(twin_core, Command.STATUS)
    assert (st["trading_state"], st["state_unknown"]) == ("HALTED", True)
    assert list(twin_core.state_dir.glob(STATE_FILE + ".corrupt-*"))
    # an operator setting the firm level explicitly makes the state known again
    call(twin_core, Command.SET_KILL, {"scope": "firm", "key": None, "level": "ACTIVE"})
    st = call(twin_core, Command.STATUS)
    assert (st["trading_state"], st["state_unknown"]) == ("ACTIVE", False)


def test_restart_when_clean_then_kill_levels_limits_and_versions_survive_and_seq_restarts(
        twin_core: TwinHandle) -> None:
    call(twin_core, Command.SET_KILL, {"scope": "firm", "key": None, "level": "REDUCE_ONLY"})
    call(twin_core, Command.SET_KILL, {"scope": "account", "key": "PROP02", "level": "CANCEL_ONLY"})
    call(twin_core, Command.SET_KILL, {"scope": "venue", "key": "ARCA", "level": "HALTED"})
    call(twin_core, Command.SET_LIMITS, {"account": "PROP01", "limits": {"max_order_qty": 777}, "approver": "cro",
                                         "until_ns": None})
    call(twin_core, Command.SET_LIMITS, {"account": None, "limits": {"max_order_notional": "2000000"},
                                         "approver": "cro", "until_ns": time.time_ns() + 3600 * 10**9})
    before = call(twin_core, Command.SNAPSHOT)
    twin_core.stop()
    twin_core.restart()
    after = call(twin_core, Command.SNAPSHOT)
    for key in ("kill", "limits", "temp_limits", "limits_version", "state_version", "bp", "locates", "positions"):
        assert after[key] == before[key], key
    assert after["trading_state"] == "REDUCE_ONLY" and after["state_unknown"] is False
    assert after["epoch"] == before["epoch"] + 1 and after["last_seq"] == 0


def test_retry_when_sent_again_after_restart_then_still_applied_once(twin_core: TwinHandle) -> None:
    req = request(Command.SET_KILL, {"scope": "symbol", "key": "AAPL", "level": "HALTED"}, ttl_s=60)
    s = curve_dealer(twin_core)
    try:
        first = rpc(s, req)
    finally:
        s.close(0)
    twin_core.restart()
    s = curve_dealer(twin_core)
    try:
        again = rpc(s, req)
        st = rpc(s, Command.STATUS).result
    finally:
        s.close(0)
    assert first.ok and again.ok and again.state_version == first.state_version == st["state_version"]
    assert st["last_seq"] == 0  # nothing re-applied, so no new KILL_STATE_CHANGED in the new epoch


def test_restart_when_killed_hard_then_persisted_kill_state_survives_under_a_halted_firm(
        twin_core: TwinHandle) -> None:
    call(twin_core, Command.SET_KILL, {"scope": "symbol", "key": "MSFT", "level": "CANCEL_ONLY"})
    wait_durable(twin_core)
    twin_core.kill()
    twin_core.restart()
    st = call(twin_core, Command.STATUS)
    assert st["kill"]["symbol"] == {"MSFT": "CANCEL_ONLY"}
    # an unclean stop: whatever was persisted, the firm comes up HALTED (protocol v2 start rule)
    assert (st["trading_state"], st["state_unknown"], st["start"]) == ("HALTED", True, "unclean")


def wait_durable(handle: TwinHandle, deadline_s: float = 5.0) -> None:
    """Until the twin's durable version has reached its state version (the group commit flushed)."""
    def durable() -> bool:
        st = call(handle, Command.STATUS)
        return bool(st["durable_version"] >= st["state_version"])

    wait_for(durable, deadline_s, "the twin to make its state durable")


def test_rewind_when_epoch_before_restart_then_still_served(twin_core: TwinHandle) -> None:
    call(twin_core, Command.SUBMIT_ORDERS, {"orders": [BUY]})
    old = call(twin_core, Command.STATUS)
    twin_core.restart()
    assert call(twin_core, Command.STATUS)["epoch"] == old["epoch"] + 1
    s = curve_dealer(twin_core, "capture", "rewind")
    try:
        s.send(orjson.dumps({"v": 1, "epoch": old["epoch"], "from_seq": 1, "to_seq": old["last_seq"]}))
        assert s.poll(5000)
        hdr, payload = s.recv_multipart()
        assert s.poll(5000)
        end = orjson.loads(s.recv())
    finally:
        s.close(0)
    h, recs = decode_batch(hdr, payload)
    assert h.epoch == old["epoch"] and len(recs) == old["last_seq"]
    assert recs[0]["etype"] == EventType.ORDER_NEW
    assert end["code"] == "OK" and end["last_seq"] == old["last_seq"]


def test_stop_twin_when_started_elsewhere_then_stopped_by_pid_from_endpoint_file(twin_core: TwinHandle) -> None:
    from hw.twin.launch import read_endpoint_file, stop_twin

    info = read_endpoint_file(twin_core.home, "primary")
    assert info is not None and info["pid"] == twin_core.pid and info["endpoints"] == twin_core.endpoints
    assert stop_twin(twin_core.home, "primary")
    assert twin_core.proc is not None and twin_core.proc.wait(10) == 0
    assert read_endpoint_file(twin_core.home, "primary") is None
    assert not stop_twin(twin_core.home, "primary")
