"""simulate_day, the engine's order path in virtual time, and the stream generator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core_bridge.auth import Identity
from core_bridge.protocol import (
    EVENT_DTYPE,
    Command,
    EventType,
    KillLevel,
    KillScope,
    OrdType,
    Request,
    Role,
    Side,
    TimeInForce,
    Venue,
)
from core_bridge.protocol import to_fixed as fx
from core_bridge.reasons import ReasonCode
from hw.twin.engine import CoreEngine
from hw.twin.market import session_bounds_ns, simulate_day
from hw.twin.orders import OrderRequest
from hw.twin.state import provisioned_state
from hw.twin.stream import SyntheticStream

DATE = "2026-11-20"
OPEN, CLOSE = session_bounds_ns(DATE)
OPERATOR = Identity("operator", Role.OPERATOR)


@pytest.fixture(scope="module")
def day():
    return simulate_day(DATE, 3000, seed=11)


def test_simulate_day_when_same_seed_then_byte_identical(day) -> None:
    again = simulate_day(DATE, 3000, seed=11)
    assert again.events.tobytes() == day.events.tobytes()
    assert simulate_day(DATE, 3000, seed=12).events.tobytes() != day.events.tobytes()


def test_simulate_day_when_run_then_seq_gapless_and_times_inside_session(day) -> None:
    ev = day.events
    assert ev.dtype == EVENT_DTYPE
    assert ev["seq"][0] == 1 and bool(np.all(np.diff(ev["seq"]) == 1))
    assert bool(np.all(np.diff(ev["ts_ns"]) > 0))
    assert OPEN <= int(ev["ts_ns"][0])
    assert int(ev[ev["etype"] != EventType.ORDER_EXPIRED]["ts_ns"].max()) < CLOSE
    assert int(ev["ts_ns"][-1]) < CLOSE + 1_000_000_000  # DAY expiries stamped at the close


def test_simulate_day_when_run_then_every_path_appears(day) -> None:
    ev = day.events
    types = {EventType(t) for t in np.unique(ev["etype"])}
    assert {EventType.ORDER_NEW, EventType.ORDER_ROUTED, EventType.ORDER_ACKED, EventType.ORDER_FILLED,
            EventType.ORDER_REPLACED, EventType.ORDER_CANCEL_REQUESTED, EventType.ORDER_CANCELLED,
            EventType.ORDER_REJECTED, EventType.ROUTE_REJECTED, EventType.ORDER_EXPIRED,
            EventType.REPLACE_REJECTED} <= types
    reasons = {ReasonCode(r) for r in np.unique(ev["reason"])}
    assert {ReasonCode.LOCATE_UNAVAILABLE, ReasonCode.VENUE_REJECTED, ReasonCode.CANCEL_FIRM,
            ReasonCode.CANCEL_EXPIRED, ReasonCode.LIMIT_PRICE_COLLAR} <= reasons
    partial = ev[(ev["etype"] == EventType.ORDER_FILLED) & (ev["leaves_qty"] > 0)]
    assert len(partial) > 0


def test_simulate_day_when_routed_then_session_and_wire_id_follow_the_venue(day) -> None:
    routed = day.events[day.events["etype"] == EventType.ORDER_ROUTED]
    sessions = {Venue(v): s for v, s in zip(routed["venue"], routed["session"], strict=True)}
    assert sessions == {Venue.NSDQ: b"OUCH01", Venue.NYSE: b"PLR01", Venue.ARCA: b"PLRA01"}
    assert len(np.unique(routed["routed_id"])) == len(routed)


def test_simulate_day_when_replaced_then_new_order_id_points_to_old_with_new_routed_id(day) -> None:
    ev = day.events
    rep = ev[ev["etype"] == EventType.ORDER_REPLACED][0]
    old = ev[(ev["order_id"] == rep["orig_order_id"]) & (ev["etype"] == EventType.ORDER_ROUTED)][0]
    assert rep["order_id"] != rep["orig_order_id"] and rep["routed_id"] != old["routed_id"]


def test_simulate_day_when_firm_cancels_then_request_precedes_cancelled(day) -> None:
    ev = day.events
    c = ev[ev["etype"] == EventType.ORDER_CANCELLED][0]
    req = ev[(ev["order_id"] == c["order_id"]) & (ev["etype"] == EventType.ORDER_CANCEL_REQUESTED)]
    assert len(req) == 1 and req[0]["seq"] < c["seq"] and c["reason"] == ReasonCode.CANCEL_FIRM


def test_simulate_day_when_short_sales_then_exempt_never_needs_locate(day) -> None:
    ev = day.events
    rej = ev[(ev["etype"] == EventType.ORDER_REJECTED) & (ev["reason"] == ReasonCode.LOCATE_UNAVAILABLE)]
    assert set(rej["side"]) == {Side.SHORT}
    assert set(rej["symbol"]) <= {b"TSLA", b"PFE"}
    exempt_new = ev[(ev["etype"] == EventType.ORDER_NEW) & (ev["side"] == Side.SHORT_EXEMPT)]
    assert len(exempt_new) > 0


def test_simulate_day_when_closed_then_no_day_order_left_working(day) -> None:
    ev = day.events
    last = ev[-1]
    assert last["etype"] == EventType.ORDER_EXPIRED and last["reason"] == ReasonCode.CANCEL_EXPIRED


def test_simulate_day_when_positions_returned_then_they_equal_sod_plus_fills(day) -> None:
    fills = day.events[day.events["etype"] == EventType.ORDER_FILLED]
    sod = simulate_day(DATE, 0, seed=11).positions
    expect: dict[tuple[str, str], int] = {(a, s): q for a, p in sod.items() for s, q in p.items()}
    for f in fills:
        k = (f["account"].decode(), f["symbol"].decode())
        expect[k] = expect.get(k, 0) + (int(f["last_qty"]) if f["side"] == Side.BUY else -int(f["last_qty"]))
    got = {(a, s): q for a, p in day.positions.items() for s, q in p.items()}
    assert got == {k: v for k, v in expect.items() if v}


def _engine() -> CoreEngine:
    st = provisioned_state(DATE)
    st.epoch = 1
    return CoreEngine(st, started_ns=OPEN)


def test_engine_when_ioc_not_marketable_then_expires_at_once_with_cancel_expired() -> None:
    eng = _engine()
    oid, rc = eng.new_order(OrderRequest("new", 1, "PROP01", "AAPL", Side.BUY, 100, fx("229.00"), OrdType.LIMIT,
                                         TimeInForce.IOC, Venue.NSDQ), OPEN)
    ev = eng.drain()
    assert rc is ReasonCode.OK and [EventType(e) for e in ev["etype"]] == [
        EventType.ORDER_NEW, EventType.ORDER_ROUTED, EventType.ORDER_ACKED, EventType.ORDER_EXPIRED]
    assert ev[-1]["reason"] == ReasonCode.CANCEL_EXPIRED and oid not in eng.orders


def test_engine_when_temporary_raise_due_then_reverts_and_emits_limits_changed() -> None:
    eng = _engine()
    req = Request(Command.SET_LIMITS, "raise-1", "jdoe", "desk request", OPEN + 10**9,
                  {"account": None, "limits": {"max_order_qty": 20_000}, "approver": "cro", "until_ns": OPEN + 500})
    rep = eng.handle(req, OPERATOR, OPEN)
    assert rep.ok and eng.state.limits["firm"]["max_order_qty"] == 20_000
    assert not eng.revert_due_limits(OPEN + 499)
    assert eng.revert_due_limits(OPEN + 500)
    assert eng.state.limits["firm"]["max_order_qty"] == 10_000 and eng.state.temp_limits == []
    ev = eng.drain()
    assert [EventType(e) for e in ev["etype"]] == [EventType.LIMITS_CHANGED, EventType.LIMITS_CHANGED]
    assert list(ev["qty"]) == [1, 2]


def test_engine_when_same_id_twice_then_applied_once_with_same_reply() -> None:
    eng = _engine()
    req = Request(Command.SET_KILL, "k-1", "jdoe", "test", OPEN + 10**9, {"scope": "firm", "key": None,
                                                                            "level": "HALTED"})
    a = eng.handle(req, OPERATOR, OPEN)
    b = eng.handle(req, OPERATOR, OPEN + 2 * 10**9)  # a retry after expiry still gets the original answer
    assert a.ok and a == b and eng.state.state_version == 1
    assert len(eng.drain()) == 1


def test_stream_when_batches_then_records_valid_and_contiguous() -> None:
    s = SyntheticStream(epoch=3)
    a = s.batch(1, 1000, OPEN)
    b = s.batch(1001, 6, OPEN)
    both = np.concatenate([a, b])
    assert bool(np.all(np.diff(both["seq"]) == 1)) and set(both["epoch"]) == {3}
    life = both[:4]
    assert [EventType(e) for e in life["etype"]] == [EventType.ORDER_NEW, EventType.ORDER_ROUTED,
                                                      EventType.ORDER_ACKED, EventType.ORDER_FILLED]
    assert len(set(life["order_id"])) == 1 and life[3]["last_qty"] == 100 and life[3]["leaves_qty"] == 0


@given(
    firm=st.sampled_from(list(KillLevel)),
    acct=st.sampled_from(list(KillLevel)),
    sym=st.sampled_from(list(KillLevel)),
    ven=st.sampled_from(list(KillLevel)),
    mwcb=st.integers(0, 3),
    halt=st.sampled_from(["OPEN", "HALTED", "LULD_PAUSE"]),
    restricted=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_cancel_when_any_kill_halt_or_restriction_then_never_blocked(firm, acct, sym, ven, mwcb, halt,
                                                                     restricted) -> None:
    eng = _engine()
    oid, rc = eng.new_order(OrderRequest("new", 1, "PROP01", "AAPL", Side.BUY, 100, fx("229.00"), OrdType.LIMIT,
                                         TimeInForce.DAY, Venue.NSDQ), OPEN)
    assert rc is ReasonCode.OK
    s = eng.state
    s.kill_firm = firm
    s.kill[KillScope.ACCOUNT]["PROP01"] = acct
    s.kill[KillScope.SYMBOL]["AAPL"] = sym
    s.kill[KillScope.VENUE]["NSDQ"] = ven
    s.mwcb_level = mwcb
    s.halts["AAPL"] = halt
    s.restricted = ["AAPL"] if restricted else []
    eng.refresh_risk()
    eng.drain()
    assert eng.cancel(oid, OPEN + 1) is ReasonCode.OK
    assert [EventType(e) for e in eng.drain()["etype"]] == [EventType.ORDER_CANCEL_REQUESTED,
                                                            EventType.ORDER_CANCELLED]
