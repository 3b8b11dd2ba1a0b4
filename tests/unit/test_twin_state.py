"""Persisted twin state: round trip, checksum, validation, atomic replace."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from core_bridge.protocol import KillLevel, KillScope
from hw.errors import TwinStateError
from hw.twin.state import APPLIED_IDS_MAX, TwinState, normalize_limit, provisioned_state, unknown_state
from hw.twin.statestore import STATE_FILE, decode_state, encode_state, load_state, save_state


def sample() -> TwinState:
    st = provisioned_state("2026-11-20")
    st.epoch = 4
    st.state_version = 17
    st.kill_firm = KillLevel.REDUCE_ONLY
    st.kill[KillScope.ACCOUNT]["PROP02"] = KillLevel.HALTED
    st.limits["PROP01"] = {"max_order_qty": 500}
    st.temp_limits.append({"account": None, "limits": {"max_order_qty": 20000}, "previous": {"max_order_qty": 10000},
                           "until_ns": 5, "approver": "cro", "operator": "jdoe"})
    st.positions = {"PROP01": {"AAPL": -300}}
    st.remember("req-1", "set_kill", {"id": "req-1", "ok": True, "code": "OK", "state_version": 17, "result": {}})
    return st


def test_save_then_load_when_clean_then_state_round_trips(tmp_path: Path) -> None:
    st = sample()
    save_state(tmp_path, st)
    back = load_state(tmp_path)
    assert back.to_json() == st.to_json()
    assert not (tmp_path / (STATE_FILE + ".tmp")).exists()


def test_load_when_missing_then_twin_state_error(tmp_path: Path) -> None:
    with pytest.raises(TwinStateError, match="missing"):
        load_state(tmp_path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-5],  # truncated body
        lambda b: b.replace(b'"REDUCE_ONLY"', b'"REDUCE_ONLX"'),  # bit rot, checksum now wrong
        lambda b: b"garbage\n" + b,  # bad header
        lambda b: b"",
    ],
)
def test_decode_when_file_damaged_then_twin_state_error(damage) -> None:
    with pytest.raises(TwinStateError):
        decode_state(damage(encode_state(sample())))


def test_decode_when_checksum_right_but_field_invalid_then_error_names_field() -> None:
    import zlib

    body = b'{"epoch": "one"}'
    raw = b"colo-ops-twin-state v2 crc32=" + b"%08x" % zlib.crc32(body) + b"\n" + body
    with pytest.raises(TwinStateError, match="epoch"):
        decode_state(raw)


def test_unknown_state_when_built_then_firm_halted_and_flagged() -> None:
    st = unknown_state()
    assert st.kill_firm is KillLevel.HALTED and st.state_unknown


def test_remember_when_more_ids_than_capacity_then_oldest_forgotten() -> None:
    st = TwinState()
    for i in range(APPLIED_IDS_MAX + 3):
        st.remember(f"id{i}", "set_bp", {})
    assert len(st.applied) == APPLIED_IDS_MAX and "id0" not in st.applied and f"id{APPLIED_IDS_MAX + 2}" in st.applied


@pytest.mark.parametrize(
    ("key", "value", "ok"),
    [("max_order_qty", 5, True), ("max_order_qty", "5", False), ("max_order_qty", True, False),
     ("max_order_notional", "1e3", True), ("max_order_notional", 1000, False), ("max_order_notional", "NaN", False),
     ("price_collar_pct", "-1", False), ("bogus", 1, False)],
)
def test_normalize_limit_table(key: str, value: object, ok: bool) -> None:
    if ok:
        normalize_limit(key, value)
    else:
        with pytest.raises(ValueError):
            normalize_limit(key, value)


def test_settings_ports_when_standby_then_hundred_above_primary(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from hw.twin.launch import settings_ports

    monkeypatch.chdir(tmp_path)  # no colo-ops.toml here
    monkeypatch.delenv("COLO_OPS_CONFIG", raising=False)
    monkeypatch.setenv("COLO_OPS_CORE_PRIMARY_PORT_BASE", "18001")
    assert settings_ports("primary") == {"control": 18001, "telemetry": 18002, "dropcopy": 18003, "rewind": 18004}
    assert settings_ports("standby")["control"] == 17101


def test_applied_command_when_saved_via_log_and_snapshot_then_who_and_why_kept(tmp_path: Path) -> None:
    st = sample()
    save_state(tmp_path, st)  # snapshot
    st.remember("req-2", "set_kill", {"id": "req-2", "ok": True, "code": "OK", "state_version": 18, "result": {}},
                "jdoe", "runaway algo on PROP02")
    save_state(tmp_path, st)  # a log record over the snapshot
    back = load_state(tmp_path)
    assert orjson.loads(back.applied["req-2"])[3:] == ["jdoe", "runaway algo on PROP02"]
    assert back.applied_reply("req-2") == ("set_kill", {"id": "req-2", "ok": True, "code": "OK",
                                                        "state_version": 18, "result": {}})


def test_decode_when_applied_entries_have_no_operator_then_still_read() -> None:
    st = sample()
    old = orjson.dumps(["req-9", "set_bp", {"id": "req-9", "ok": True, "code": "OK", "state_version": 3,
                                            "result": {}}])
    st.applied["req-9"] = old  # as written before entries carried operator and reason
    back = decode_state(encode_state(st))
    assert back.applied_reply("req-9") == ("set_bp", orjson.loads(old)[2])
