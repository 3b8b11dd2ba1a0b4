"""The running twin's state log: commands applied after the start snapshot survive a SIGKILL (replayed from
the log), a torn last record is dropped, and a damaged log body brings the twin up HALTED."""

from __future__ import annotations

from hw.twin.launch import TwinHandle
from hw.twin.statelog import log_header, read_log
from hw.twin.statestore import LOG_FILE, STATE_FILE
from tests.polling import wait_for


def call(handle: TwinHandle, cmd: str, args: dict | None = None, request_id: str | None = None) -> dict:
    rep = handle.call(cmd, args, request_id=request_id)
    assert rep.ok, rep
    return rep.result


KILLS = [("account", "PROP02", "CANCEL_ONLY"), ("symbol", "MSFT", "HALTED"), ("venue", "ARCA", "REDUCE_ONLY"),
         ("symbol", "AAPL", "CANCEL_ONLY")]


def apply_kills(handle: TwinHandle) -> None:
    for n, (scope, key, level) in enumerate(KILLS):
        call(handle, "set_kill", {"scope": scope, "key": key, "level": level}, request_id=f"log-kill-{n}")
    # kills are acked before they are durable (protocol v2): wait for the group commit to have flushed them
    def durable() -> bool:
        st = call(handle, "status")
        return bool(st["durable_version"] >= st["state_version"])

    wait_for(durable, 5, "the group commit to flush the kills")


def test_restart_when_killed_hard_after_several_commands_then_all_replayed_from_log(twin_core: TwinHandle) -> None:
    apply_kills(twin_core)
    before = call(twin_core, "snapshot")
    assert len(read_log((twin_core.state_dir / LOG_FILE).read_bytes()).records) >= len(KILLS)
    twin_core.kill()
    twin_core.restart()
    after = call(twin_core, "snapshot")
    # replayed, then the unclean-stop rule: firm HALTED, kill state flagged unknown, one version later
    assert {**after["kill"], "firm": before["kill"]["firm"]} == before["kill"] and after["kill"]["firm"] == "HALTED"
    assert after["state_version"] == before["state_version"] + 1
    assert after["state_unknown"] is True and after["start"] == "unclean"
    # the applied ids came back from the log too: a retry is answered, not re-applied
    rep = twin_core.call("set_kill", {"scope": "symbol", "key": "MSFT", "level": "HALTED"}, request_id="log-kill-1")
    assert rep.ok and rep.state_version < after["state_version"]


def test_restart_when_last_log_record_torn_then_earlier_commands_kept(twin_core: TwinHandle) -> None:
    apply_kills(twin_core)
    twin_core.kill()
    path = twin_core.state_dir / LOG_FILE
    raw = path.read_bytes()
    end = read_log(raw).good_end
    path.write_bytes(raw[: end - 3] + bytes(len(raw) - end + 3))  # the last write (AAPL) cut short
    twin_core.restart()
    st = call(twin_core, "status")
    assert st["start"] == "unclean" and st["trading_state"] == "HALTED"  # killed hard: HALTED, state kept
    assert st["kill"]["symbol"] == {"MSFT": "HALTED"} and st["kill"]["venue"] == {"ARCA": "REDUCE_ONLY"}


def test_restart_when_log_body_damaged_then_halted_and_damaged_log_kept_aside(twin_core: TwinHandle) -> None:
    apply_kills(twin_core)
    twin_core.kill()
    path = twin_core.state_dir / LOG_FILE
    raw = bytearray(path.read_bytes())
    raw[len(log_header("0" * 16)) + 8 + 2] ^= 0x41  # inside the first record's payload; more records follow
    path.write_bytes(bytes(raw))
    twin_core.restart()
    st = call(twin_core, "status")
    assert (st["trading_state"], st["state_unknown"]) == ("HALTED", True)
    assert list(twin_core.state_dir.glob(LOG_FILE + ".corrupt-*"))
    assert list(twin_core.state_dir.glob(STATE_FILE + ".corrupt-*"))
