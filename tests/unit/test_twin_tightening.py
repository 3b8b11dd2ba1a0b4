"""Which applied controls the twin treats as tightening (acked before durable, protocol v2 §3.8)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core_bridge.auth import Identity
from core_bridge.protocol import Command, Request, Role
from hw.twin.engine import CoreEngine
from hw.twin.groupcommit import GroupCommit
from hw.twin.state import provisioned_state, unknown_state
from hw.twin.statestore import load_state, save_state

OP = Identity("operator", Role.OPERATOR)


def apply(eng: CoreEngine, cmd: Command, args: dict) -> bool:
    eng.tightening = False
    rep = eng.handle(Request(cmd, f"t-{time.perf_counter_ns()}", "op", "r", time.time_ns() + 10**10, args), OP,
                     time.time_ns())
    assert rep.ok, rep
    return eng.tightening


def kill(scope: str, key: str | None, level: str) -> dict:
    return {"scope": scope, "key": key, "level": level}


def test_kill_levels_when_raised_or_set_again_then_tightening_when_lowered_then_not() -> None:
    eng = CoreEngine(provisioned_state())
    assert apply(eng, Command.SET_KILL, kill("symbol", "AAPL", "REDUCE_ONLY"))
    assert apply(eng, Command.SET_KILL, kill("symbol", "AAPL", "HALTED"))
    assert apply(eng, Command.SET_KILL, kill("symbol", "AAPL", "HALTED"))  # set again: nothing loosens
    assert not apply(eng, Command.SET_KILL, kill("symbol", "AAPL", "CANCEL_ONLY"))
    assert not apply(eng, Command.SET_KILL, kill("symbol", "AAPL", "ACTIVE"))
    assert apply(eng, Command.SET_KILL, kill("venue", "NYSE", "CANCEL_ONLY"))
    assert apply(eng, Command.SET_KILL, kill("firm", None, "HALTED"))
    assert not apply(eng, Command.SET_KILL, kill("firm", None, "ACTIVE"))
    assert apply(eng, Command.CANCEL_ALL, {"scope": "firm", "key": None})


def test_firm_level_when_kill_state_unknown_then_only_halted_is_tightening() -> None:
    eng = CoreEngine(unknown_state())
    assert not apply(eng, Command.SET_KILL, kill("firm", None, "REDUCE_ONLY"))  # unknown rejects like HALTED
    eng = CoreEngine(unknown_state())
    assert apply(eng, Command.SET_KILL, kill("firm", None, "HALTED"))


@pytest.mark.parametrize(("limits", "tight"), [
    ({"max_order_qty": 5_000}, True),
    ({"max_order_qty": 10_000}, True),  # unchanged
    ({"max_order_qty": 20_000}, False),
    ({"max_order_notional": "900000", "price_collar_pct": "2"}, True),
    ({"max_order_notional": "900000", "price_collar_pct": "7"}, False),  # one raise makes it a loosening
    ({"duplicate_window_ms": 1_000}, True),  # a longer duplicate window restricts more
    ({"duplicate_window_ms": 50}, False),
])
def test_limits_when_lowered_then_tightening_when_any_raised_then_not(limits: dict, tight: bool) -> None:
    eng = CoreEngine(provisioned_state())
    assert apply(eng, Command.SET_LIMITS, {"account": None, "limits": limits, "approver": "risk"}) is tight


def test_restricted_and_halts_when_added_then_tightening_when_removed_then_not() -> None:
    eng = CoreEngine(provisioned_state())
    assert apply(eng, Command.SET_RESTRICTED, {"symbols": ["TSLA"]})
    assert apply(eng, Command.SET_RESTRICTED, {"symbols": ["TSLA", "SPY"]})
    assert not apply(eng, Command.SET_RESTRICTED, {"symbols": ["SPY"]})
    assert apply(eng, Command.SET_HALTS, {"halts": {"AAPL": "LULD_PAUSE"}})
    assert apply(eng, Command.SET_HALTS, {"halts": {"AAPL": "HALTED"}, "mwcb_level": 1})
    assert not apply(eng, Command.SET_HALTS, {"halts": {"AAPL": "OPEN"}})
    assert not apply(eng, Command.SET_HALTS, {"mwcb_level": 0})


def test_other_commands_when_applied_then_never_tightening() -> None:
    eng = CoreEngine(provisioned_state())
    assert not apply(eng, Command.SET_BP, {"bp": {"PROP01": "1"}, "as_of_ns": 1})
    assert not apply(eng, Command.SET_LOCATES, {"date": "2026-11-20", "locates": {}})


def test_group_commit_when_records_submitted_then_durable_in_order_and_loadable(tmp_path: Path) -> None:
    st = provisioned_state()
    save_state(tmp_path, st)
    gc = GroupCommit(tmp_path, st.state_version)
    try:
        for n in range(1, 51):
            st.state_version = n
            st.restricted = [f"S{n}"]
            gc.submit(st)
        gc.drain()
        assert gc.durable_version == 50 and gc.failed is None and 1 <= gc.batches <= 50
        assert gc.take_notifications() == 50
        assert load_state(tmp_path).restricted == ["S50"]
    finally:
        gc.close()
