"""The twin over real CURVE sockets: every command and its ack, idempotency, roles, the kill switch table,
REDUCE_ONLY, collar on replace, locates, temporary limit raises, telemetry, drop copy and rewind."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import orjson
import pytest
import zmq

from core_bridge.protocol import (
    DROPCOPY_TOPIC,
    TELEMETRY_TOPIC_HEALTH,
    TELEMETRY_TOPIC_HEARTBEAT,
    Command,
    EventFlag,
    EventType,
    KillLevel,
    KillScope,
    decode_batch,
)
from core_bridge.reasons import ReasonCode
from hw.twin.launch import TwinHandle
from tests.fixtures.twin import curve_dealer, curve_sub, request, rpc, unknown_dealer

_px = itertools.count(0)


def price(base: int = 220) -> str:
    """A fresh passive buy price (AAPL ref 230.00) so no two test orders look like duplicates."""
    return f"{base + (next(_px) % 900) / 100:.2f}"


def order(**kw: Any) -> dict[str, Any]:
    o = {"action": "new", "clordid": next(_px) + 1, "account": "PROP01", "symbol": "AAPL", "side": "BUY",
         "qty": 100, "price": price(), "ord_type": "LIMIT", "tif": "DAY", "venue": "NSDQ"}
    o.update(kw)
    return o


def submit(sock: zmq.Socket, *orders: dict[str, Any]) -> list[dict[str, Any]]:
    rep = rpc(sock, Command.SUBMIT_ORDERS, {"orders": list(orders)})
    assert rep.ok, rep
    return rep.result["results"]


def status(sock: zmq.Socket) -> dict[str, Any]:
    rep = rpc(sock, Command.STATUS)
    assert rep.ok
    return rep.result


def rewind_all(handle: TwinHandle, epoch: int, from_seq: int, to_seq: int) -> tuple[np.ndarray, dict[str, Any]]:
    s = curve_dealer(handle, "capture", "rewind")
    try:
        s.send(orjson.dumps({"v": 1, "epoch": epoch, "from_seq": from_seq, "to_seq": to_seq}))
        chunks = []
        while True:
            assert s.poll(5000), "rewind stalled"
            frames = s.recv_multipart()
            if len(frames) == 1:
                return (np.concatenate(chunks) if chunks else np.zeros(0)), orjson.loads(frames[0])
            _, recs = decode_batch(frames[0], frames[1])
            chunks.append(recs)
    finally:
        s.close(0)


@pytest.fixture
def op(twin_core_module: TwinHandle):
    s = curve_dealer(twin_core_module, "operator")
    yield s
    s.close(0)


# ----------------------------------------------------------------------------- every command and its ack

TODAY = "2026-11-20"
MUTATING_CASES: list[tuple[Command, dict[str, Any]]] = [
    (Command.SET_KILL, {"scope": "symbol", "key": "IBM", "level": "REDUCE_ONLY"}),
    (Command.CANCEL_ALL, {"scope": "account", "key": "PROP04"}),
    (Command.SET_LIMITS, {"account": "PROP04", "limits": {"max_order_qty": 900}, "approver": "cro",
                          "until_ns": None}),
    (Command.SET_BP, {"bp": {"PROP04": "2500000.50"}, "as_of_ns": 1_763_800_000_000_000_000}),
    (Command.SET_LOCATES, {"date": TODAY, "locates": {s: 100_000 for s in ("AAPL", "MSFT", "IBM", "TSLA")}}),
    (Command.SET_RESTRICTED, {"symbols": ["XOM"]}),
    (Command.SET_HALTS, {"halts": {"JNJ": "LULD_PAUSE"}, "mwcb_level": 0}),
    (Command.SET_SOD_POSITIONS, {"date": TODAY, "positions": {"PROP04": {"KO": 100}}}),
    (Command.SUBMIT_ORDERS, {"orders": [order(account="PROP04")]}),
    (Command.SIM, {"action": "end_of_day"}),
]


@pytest.mark.parametrize(("cmd", "args"), MUTATING_CASES, ids=[c.value for c, _ in MUTATING_CASES])
def test_command_when_applied_then_ack_echoes_the_new_state_version(op: zmq.Socket, cmd: Command,
                                                                    args: dict[str, Any]) -> None:
    before = status(op)["state_version"]
    rep = rpc(op, cmd, args)
    assert rep.ok and rep.code == "OK", rep
    assert rep.state_version == before + 1
    assert status(op)["state_version"] == rep.state_version


@pytest.mark.parametrize("cmd", [Command.HELLO, Command.STATUS, Command.SNAPSHOT, Command.HA_STATUS,
                                 Command.HA_PROMOTE, Command.HA_DEMOTE])
def test_read_command_when_served_then_ok_without_bumping_state_version(twin_core_module: TwinHandle,
                                                                        cmd: Command) -> None:
    s = curve_dealer(twin_core_module, "admin")
    try:
        before = status(s)["state_version"]
        rep = rpc(s, cmd)
        assert rep.ok and rep.state_version == before and status(s)["state_version"] == before
    finally:
        s.close(0)


def test_hello_when_monitor_then_identity_role_and_epoch_reported(twin_core_module: TwinHandle) -> None:
    s = curve_dealer(twin_core_module, "monitor")
    try:
        r = rpc(s, Command.HELLO).result
    finally:
        s.close(0)
    assert r["protocol"] == 2 and r["versions"] == [1, 2]
    assert r["identity"] == "monitor" and r["role"] == "monitor" and r["epoch"] >= 1


def test_snapshot_when_requested_then_holds_every_documented_field(op: zmq.Socket) -> None:
    snap = rpc(op, Command.SNAPSHOT).result
    for key in ("node", "ha_role", "trading_state", "kill", "last_seq", "epoch", "limits_version", "state_version",
                "state_unknown", "orders_working", "uptime_s", "core_time_ns", "limits", "temp_limits", "bp",
                "bp_as_of_ns", "locates", "locates_date", "restricted", "halts", "mwcb_level", "positions",
                "sod_date", "accounts"):
        assert key in snap, key
    assert set(snap["kill"]) == {"firm", "account", "symbol", "venue"}


def test_ha_status_when_single_node_then_reports_node_and_active(twin_core_module: TwinHandle) -> None:
    s = curve_dealer(twin_core_module, "admin")
    try:
        r = rpc(s, Command.HA_STATUS).result
    finally:
        s.close(0)
    assert r["node"] == "primary" and r["ha_role"] == "active"


# ----------------------------------------------------------------------------- idempotency, expiry, bad input

def test_retry_when_same_id_sent_twice_then_applied_once_with_same_state_version(op: zmq.Socket) -> None:
    before = status(op)
    req = request(Command.SET_KILL, {"scope": "symbol", "key": "T", "level": "CANCEL_ONLY"})
    first = rpc(op, req)
    second = rpc(op, req)
    after = status(op)
    assert first.ok and second.ok and second.state_version == first.state_version == before["state_version"] + 1
    assert after["state_version"] == first.state_version
    assert after["last_seq"] == before["last_seq"] + 1  # one KILL_STATE_CHANGED, not two


def test_request_when_expired_then_msg_expired_and_not_applied(op: zmq.Socket) -> None:
    before = status(op)["state_version"]
    rep = rpc(op, request(Command.SET_KILL, {"scope": "firm", "key": None, "level": "HALTED"}, ttl_s=-1))
    assert (rep.ok, rep.code) == (False, "MSG_EXPIRED")
    assert status(op)["state_version"] == before and status(op)["trading_state"] == "ACTIVE"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "MSG_MALFORMED"),
        (b'{"v":1,"cmd":"set_kill","id":"x1"}', "MSG_MALFORMED"),
        (b'{"v":1,"cmd":"launch_rockets","id":"x2","operator":"a","reason":"b","expires_ns":9e18}', "MSG_MALFORMED"),
        (b'{"v":1,"cmd":"launch_rockets","id":"x2","operator":"a","reason":"b","expires_ns":9000000000000000000}',
         "MSG_UNKNOWN_COMMAND"),
        (b'{"v":7,"cmd":"status","id":"x3","operator":"a","reason":"b","expires_ns":9000000000000000000}',
         "MSG_VERSION_UNSUPPORTED"),
        (b'{"v":1,"cmd":"set_kill","id":"x4","operator":"a","reason":"b","expires_ns":9000000000000000000,'
         b'"args":{"scope":"galaxy","key":null,"level":"HALTED"}}', "MSG_ARGS_INVALID"),
        (b'{"v":1,"cmd":"set_limits","id":"x5","operator":"a","reason":"b","expires_ns":9000000000000000000,'
         b'"args":{"account":null,"limits":{"max_order_qty":5}}}', "MSG_ARGS_INVALID"),
    ],
)
def test_request_when_malformed_then_refused_with_code_and_state_unchanged(op: zmq.Socket, body: bytes,
                                                                           code: str) -> None:
    before = status(op)["state_version"]
    op.send(body)
    assert op.poll(5000)
    rep = orjson.loads(op.recv())
    assert (rep["ok"], rep["code"]) == (False, code)
    assert status(op)["state_version"] == before


def test_request_when_three_frames_then_malformed_reply(op: zmq.Socket) -> None:
    op.send_multipart([b"", request(Command.STATUS).encode()])
    assert op.poll(5000)
    assert orjson.loads(op.recv())["code"] == "MSG_MALFORMED"


def test_set_limits_when_operator_goes_above_policy_then_refused_but_admin_may(twin_core_module: TwinHandle,
                                                                               op: zmq.Socket) -> None:
    args = {"account": "PROP04", "limits": {"max_order_qty": 500_000}, "approver": "cro", "until_ns": None}
    assert rpc(op, Command.SET_LIMITS, args).code == "LIMIT_POLICY_EXCEEDED"
    admin = curve_dealer(twin_core_module, "admin")
    try:
        rep = rpc(admin, Command.SET_LIMITS, args)
    finally:
        admin.close(0)
    assert rep.ok and rep.result["limits"]["max_order_qty"] == 500_000


# ----------------------------------------------------------------------------- roles and keys

def test_set_kill_when_monitor_key_then_auth_role_denied_and_state_unchanged(twin_core_module: TwinHandle) -> None:
    mon = curve_dealer(twin_core_module, "monitor")
    try:
        before = status(mon)
        rep = rpc(mon, Command.SET_KILL, {"scope": "firm", "key": None, "level": "HALTED"})
        after = status(mon)
    finally:
        mon.close(0)
    assert (rep.ok, rep.code) == (False, "AUTH_ROLE_DENIED")
    assert after["state_version"] == before["state_version"] and after["kill"] == before["kill"]


def test_request_when_key_unknown_then_no_reply_and_auth_failure_counted(twin_core_module: TwinHandle,
                                                                         op: zmq.Socket) -> None:
    before = status(op)["auth_failures"]
    stranger = unknown_dealer(twin_core_module)
    try:
        stranger.send(request(Command.SET_KILL, {"scope": "firm", "key": None, "level": "HALTED"}).encode())
        assert stranger.poll(500) == 0
        deadline = time.monotonic() + 5
        while status(op)["auth_failures"] <= before and time.monotonic() < deadline:
            op.poll(20)
    finally:
        stranger.close(0)
    after = status(op)
    assert after["auth_failures"] > before and after["trading_state"] == "ACTIVE"


# ----------------------------------------------------------------------------- kill switch table

SCOPE_KEY = {KillScope.FIRM: None, KillScope.ACCOUNT: "PROP01", KillScope.SYMBOL: "AAPL", KillScope.VENUE: "NSDQ"}
EXPECT_NEW = {KillLevel.ACTIVE: "OK", KillLevel.REDUCE_ONLY: "KILL_REDUCE_ONLY",
              KillLevel.CANCEL_ONLY: "KILL_CANCEL_ONLY", KillLevel.HALTED: "KILL_HALTED"}


@pytest.mark.parametrize("level", list(KillLevel), ids=lambda lv: lv.name)
@pytest.mark.parametrize("scope", list(KillScope), ids=lambda s: s.value)
def test_kill_level_when_set_on_scope_then_blocks_new_and_replace_exactly_and_never_a_cancel(
        op: zmq.Socket, scope: KillScope, level: KillLevel) -> None:
    a, b = submit(op, order(), order())
    assert a["ok"] and b["ok"]
    kill = rpc(op, Command.SET_KILL, {"scope": scope.value, "key": SCOPE_KEY[scope], "level": level.name})
    assert kill.ok
    try:
        new, outside = submit(op, order(), order(account="PROP02", symbol="MSFT", venue="NYSE", price=price(405)))
        replace, = submit(op, {"action": "replace", "order_id": a["order_id"], "qty": 100, "price": price()})
        cancel, = submit(op, {"action": "cancel", "order_id": b["order_id"]})
    finally:
        assert rpc(op, Command.SET_KILL, {"scope": scope.value, "key": SCOPE_KEY[scope], "level": "ACTIVE"}).ok
        rpc(op, Command.CANCEL_ALL, {"scope": "firm", "key": None})
    assert new["code"] == EXPECT_NEW[level]
    assert replace["code"] == EXPECT_NEW[level]
    assert cancel["code"] == "OK"
    # an order outside the killed scope key is untouched (the firm scope covers everything)
    assert outside["code"] == (EXPECT_NEW[level] if scope is KillScope.FIRM else "OK")


def test_cancel_all_when_firm_halted_then_still_cancels_every_working_order(op: zmq.Socket) -> None:
    submit(op, order(), order(), order(account="PROP02"))
    assert rpc(op, Command.SET_KILL, {"scope": "firm", "key": None, "level": "HALTED"}).ok
    try:
        rep = rpc(op, Command.CANCEL_ALL, {"scope": "firm", "key": None})
        left = status(op)["orders_working"]
    finally:
        rpc(op, Command.SET_KILL, {"scope": "firm", "key": None, "level": "ACTIVE"})
    assert rep.ok and rep.result["cancelled"] >= 3 and left == 0


def test_reduce_only_when_long_then_only_sells_up_to_the_position_pass(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    try:
        assert rpc(s, Command.SET_SOD_POSITIONS, {"date": TODAY, "positions": {"PROP03": {"AAPL": 500}}}).ok
        assert rpc(s, Command.SET_KILL, {"scope": "account", "key": "PROP03", "level": "REDUCE_ONLY"}).ok
        sell = {"account": "PROP03", "side": "SELL"}
        r = submit(s, order(**sell, qty=200, price="235.00"), order(**sell, qty=400, price="235.01"),
                   order(account="PROP03", qty=100), order(**sell, qty=300, price="235.02"),
                   order(**sell, qty=100, price="235.03"))
    finally:
        s.close(0)
    assert [x["code"] for x in r] == ["OK", "KILL_REDUCE_ONLY", "KILL_REDUCE_ONLY", "OK", "KILL_REDUCE_ONLY"]


# ----------------------------------------------------------------------------- gate paths over the wire

def test_replace_when_price_outside_collar_then_replace_rejected_and_order_keeps_working(
        twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    try:
        first_seq = status(s)["last_seq"] + 1
        a, = submit(s, order(price="229.00"))
        bad, = submit(s, {"action": "replace", "order_id": a["order_id"], "qty": 100, "price": "300.00"})
        good, = submit(s, {"action": "replace", "order_id": a["order_id"], "qty": 100, "price": "229.50"})
        st = status(s)
    finally:
        s.close(0)
    assert (bad["code"], good["code"]) == ("LIMIT_PRICE_COLLAR", "OK") and st["orders_working"] == 1
    recs, end = rewind_all(twin_core, st["epoch"], first_seq, st["last_seq"])
    assert end["code"] == "OK"
    rej = recs[recs["etype"] == EventType.REPLACE_REJECTED]
    assert len(rej) == 1 and rej[0]["reason"] == ReasonCode.LIMIT_PRICE_COLLAR
    assert rej[0]["orig_order_id"] == a["order_id"]
    rep = recs[recs["etype"] == EventType.ORDER_REPLACED]
    assert len(rep) == 1 and rep[0]["orig_order_id"] == a["order_id"] and rep[0]["order_id"] == good["order_id"]


def test_short_sale_when_locate_short_then_locate_unavailable_and_exempt_passes(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    short = {"side": "SHORT"}
    try:
        assert rpc(s, Command.SET_LOCATES, {"date": TODAY, "locates": {"AAPL": 100}}).ok
        r = submit(s, order(**short, qty=200, price="231.00"), order(**short, qty=100, price="231.00"),
                   order(**short, qty=100, price="231.01"),
                   order(side="SHORT_EXEMPT", qty=100, price="231.02"),
                   order(**short, symbol="MSFT", price="421.00"))
        snap = rpc(s, Command.SNAPSHOT).result
    finally:
        s.close(0)
    assert [x["code"] for x in r] == ["LOCATE_UNAVAILABLE", "OK", "LOCATE_UNAVAILABLE", "OK", "LOCATE_UNAVAILABLE"]
    assert snap["locates"]["AAPL"] == 0


def test_gate_when_halted_restricted_or_mwcb_then_reason_per_control(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    try:
        assert rpc(s, Command.SET_HALTS, {"halts": {"AAPL": "HALTED", "MSFT": "LULD_PAUSE"}}).ok
        assert rpc(s, Command.SET_RESTRICTED, {"symbols": ["IBM"]}).ok
        r1 = submit(s, order(), order(symbol="MSFT", price="419.00"), order(symbol="IBM", price="209.00"),
                    order(symbol="KO", price="64.00"))
        assert rpc(s, Command.SET_HALTS, {"halts": {"AAPL": "OPEN"}, "mwcb_level": 1}).ok
        r2 = submit(s, order(symbol="KO", price="64.01"))
    finally:
        s.close(0)
    assert [x["code"] for x in r1] == ["HALT_SYMBOL_HALTED", "HALT_LULD_PAUSE", "RESTRICTED_SYMBOL", "OK"]
    assert r2[0]["code"] == "HALT_MWCB"


def test_temporary_limit_raise_when_until_passes_then_reverts_by_itself(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    try:
        st0 = status(s)
        until = time.time_ns() + 300_000_000
        rep = rpc(s, Command.SET_LIMITS, {"account": "PROP01", "limits": {"max_order_qty": 50_000},
                                          "approver": "cro", "until_ns": until})
        assert rep.ok and rep.result["limits"]["max_order_qty"] == 50_000
        big, = submit(s, order(qty=20_000, price="40.00", symbol="BAC"))
        deadline = time.monotonic() + 10
        while True:
            snap = rpc(s, Command.SNAPSHOT).result
            if not snap["temp_limits"] or time.monotonic() > deadline:
                break
            s.poll(20)
        again, = submit(s, order(qty=20_000, price="39.99", symbol="BAC"))
        st1 = status(s)
    finally:
        s.close(0)
    assert big["code"] == "OK" and again["code"] == "LIMIT_MAX_QTY"
    assert snap["temp_limits"] == [] and "max_order_qty" not in snap["limits"].get("PROP01", {})
    assert snap["limits_version"] == st0["limits_version"] + 2
    recs, _ = rewind_all(twin_core, st1["epoch"], st0["last_seq"] + 1, st1["last_seq"])
    changed = recs[recs["etype"] == EventType.LIMITS_CHANGED]
    assert list(changed["qty"]) == [st0["limits_version"] + 1, st0["limits_version"] + 2]
    assert set(changed["account"]) == {b"PROP01"}


# ----------------------------------------------------------------------------- telemetry, drop copy, rewind

def test_telemetry_when_subscribed_then_heartbeats_and_health_arrive(twin_core_module: TwinHandle) -> None:
    sub = curve_sub(twin_core_module)
    got: dict[bytes, dict[str, Any]] = {}
    try:
        deadline = time.monotonic() + 5
        while (TELEMETRY_TOPIC_HEARTBEAT not in got or TELEMETRY_TOPIC_HEALTH not in got) \
                and time.monotonic() < deadline:
            if sub.poll(200):
                topic, body = sub.recv_multipart()
                got[topic] = orjson.loads(body)
    finally:
        sub.close(0)
    hb, health = got[TELEMETRY_TOPIC_HEARTBEAT], got[TELEMETRY_TOPIC_HEALTH]
    assert {"node", "epoch", "last_seq", "state_version", "core_time_ns"} <= set(hb)
    assert {"orders_per_s", "rejects", "exposure", "gate_latency_ns", "auth_failures", "trading_state"} <= set(health)


def test_dropcopy_when_kill_set_then_kill_state_changed_record_published(twin_core: TwinHandle) -> None:
    sub = curve_sub(twin_core, "capture", "dropcopy", DROPCOPY_TOPIC)
    s = curve_dealer(twin_core)
    try:
        # the subscription needs a moment to reach the PUB: repeat a harmless change until one is seen
        deadline = time.monotonic() + 5
        recs = None
        level = iter(["CANCEL_ONLY", "HALTED"] * 50)
        while recs is None and time.monotonic() < deadline:
            rpc(s, Command.SET_KILL, {"scope": "venue", "key": "ARCA", "level": next(level)})
            if sub.poll(100):
                _, hdr, payload = sub.recv_multipart()
                _, recs = decode_batch(hdr, payload)
    finally:
        sub.close(0)
        s.close(0)
    assert recs is not None
    r = recs[0]
    assert r["etype"] == EventType.KILL_STATE_CHANGED and r["qty"] == 3 and r["venue"] == 3
    assert r["price"] in (KillLevel.CANCEL_ONLY, KillLevel.HALTED)


def test_rewind_when_range_known_then_records_replayed_with_flag_and_end_frame(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    try:
        submit(s, *[order() for _ in range(5)])
        st = status(s)
    finally:
        s.close(0)
    recs, end = rewind_all(twin_core, st["epoch"], 1, st["last_seq"])
    assert end == {"end": True, "epoch": st["epoch"], "last_seq": st["last_seq"], "code": "OK"}
    assert list(recs["seq"]) == list(range(1, st["last_seq"] + 1))
    assert bool(np.all(recs["flags"] & EventFlag.REPLAY))


@pytest.mark.parametrize(
    ("req", "code"),
    [
        ({"v": 1, "epoch": 1, "from_seq": 1, "to_seq": 10**9}, "REWIND_OUT_OF_RANGE"),
        ({"v": 1, "epoch": 1, "from_seq": 0, "to_seq": 1}, "REWIND_OUT_OF_RANGE"),
        ({"v": 1, "epoch": 1, "from_seq": 5, "to_seq": 4}, "REWIND_OUT_OF_RANGE"),
        ({"v": 1, "epoch": 999, "from_seq": 1, "to_seq": 1}, "REWIND_EPOCH_UNKNOWN"),
        ({"v": 1, "epoch": "1", "from_seq": 1, "to_seq": 1}, "MSG_MALFORMED"),
        ({"v": 3, "epoch": 1, "from_seq": 1, "to_seq": 1}, "MSG_VERSION_UNSUPPORTED"),
    ],
)
def test_rewind_when_request_bad_then_only_an_end_frame_with_code(twin_core_module: TwinHandle,
                                                                  req: dict[str, Any], code: str) -> None:
    s = curve_dealer(twin_core_module, "capture", "rewind")
    try:
        s.send(orjson.dumps(req))
        assert s.poll(5000)
        frames = s.recv_multipart()
    finally:
        s.close(0)
    assert len(frames) == 1
    end = orjson.loads(frames[0])
    assert end["end"] is True and end["code"] == code


def test_stream_when_requested_then_records_journaled_and_rewind_serves_them(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    try:
        rep = rpc(s, Command.SIM, {"action": "stream", "count": 20_000, "batch": 1000})
        assert rep.ok
        first = rep.result["first_seq"]
        deadline = time.monotonic() + 20
        while status(s)["last_seq"] < first + 19_999 and time.monotonic() < deadline:
            s.poll(20)
        st = status(s)
    finally:
        s.close(0)
    recs, end = rewind_all(twin_core, st["epoch"], first, first + 19_999)
    assert end["code"] == "OK" and len(recs) == 20_000
    assert set(recs["account"]) == {b"BENCH01"}
    assert bool(np.all(np.diff(recs["seq"]) == 1)) and bool(np.all(np.diff(recs["ts_ns"]) > 0))
    assert list(recs["etype"][:4]) == [EventType.ORDER_NEW, EventType.ORDER_ROUTED, EventType.ORDER_ACKED,
                                       EventType.ORDER_FILLED]


def test_flow_when_started_then_orders_trade_and_health_reports_rate(twin_core: TwinHandle) -> None:
    s = curve_dealer(twin_core)
    sub = curve_sub(twin_core, "monitor", "telemetry", TELEMETRY_TOPIC_HEALTH)
    try:
        assert rpc(s, Command.SIM, {"action": "start_flow", "rate": 300, "seed": 5}).ok
        health: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while not health.get("orders_per_s") and time.monotonic() < deadline:
            if sub.poll(500):
                health = orjson.loads(sub.recv_multipart()[1])
        assert rpc(s, Command.SIM, {"action": "stop_flow"}).ok
        st = status(s)
        expired = rpc(s, Command.SIM, {"action": "end_of_day"}).result["expired"]
        after = status(s)
    finally:
        sub.close(0)
        s.close(0)
    assert health["orders_per_s"] > 0 and health["gate_latency_ns"]["samples"] > 0
    assert st["last_seq"] > 0 and after["orders_working"] == 0 and expired >= 0
