"""The kill-to-flat state machine on hand-made drop-copy records: cancels confirmed per venue from records,
a venue that stays silent makes the outcome partial naming its orders, positions move only with fills, a
looser kill on the scope asks for HALTED again, a gap or another epoch is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from core_bridge.killflat.machine import FlattenFlow, Phase, distinct_slices
from core_bridge.killflat.timeline import Timeline, render_html, report_name
from core_bridge.protocol import EventFlag, EventType, KillLevel, Side, Venue, new_events

SNAP = {"epoch": 3, "last_seq": 10, "positions": {"PROP01": {"AAPL": 300, "MSFT": -200}, "PROP02": {"AAPL": 5}}}


def _recs(rows: list[dict[str, Any]], first_seq: int = 11) -> np.ndarray:
    recs = new_events(len(rows))
    for i, row in enumerate(rows):
        recs[i]["seq"], recs[i]["epoch"], recs[i]["ts_ns"] = first_seq + i, row.pop("epoch", 3), 1_000 + i
        for k, v in row.items():
            recs[i][k] = v
    return recs


def _cancelled(oid: int, venue: Venue, account: bytes = b"PROP01") -> dict[str, Any]:
    return {"etype": int(EventType.ORDER_CANCELLED), "order_id": oid, "venue": int(venue), "account": account,
            "symbol": b"AAPL", "flags": int(EventFlag.FROM_CANCEL_ALL), "last_qty": 100}


def _fill(oid: int, side: Side, qty: int, symbol: bytes, leaves: int = 0) -> dict[str, Any]:
    return {"etype": int(EventType.ORDER_FILLED), "order_id": oid, "venue": int(Venue.NSDQ), "account": b"PROP01",
            "symbol": symbol, "side": int(side), "last_qty": qty, "leaves_qty": leaves, "last_px": 2_300_000}


def _flow() -> FlattenFlow:
    flow = FlattenFlow.start(*_scope(), SNAP, Timeline())
    flow.halted(900, "ACTIVE")
    flow.cancels_listed(950, {"cancelled": 3, "orders": [{"order_id": 1, "venue": "NSDQ"},
                                                         {"order_id": 2, "venue": "NYSE"},
                                                         {"order_id": 3, "venue": "ARCA"}]})
    return flow


def _scope() -> tuple[Any, str]:
    from core_bridge.protocol import KillScope

    return KillScope.ACCOUNT, "PROP01"


def test_flow_when_started_then_only_the_scopes_positions_are_kept() -> None:
    assert FlattenFlow.start(*_scope(), SNAP, Timeline()).positions == {("PROP01", "AAPL"): 300,
                                                                         ("PROP01", "MSFT"): -200}


@pytest.mark.parametrize(("confirmed", "pending"), [
    ([], {"NSDQ": [1], "NYSE": [2], "ARCA": [3]}),
    ([(1, Venue.NSDQ)], {"NYSE": [2], "ARCA": [3]}),
    ([(1, Venue.NSDQ), (2, Venue.NYSE), (3, Venue.ARCA)], {}),
])
def test_flow_when_cancel_records_arrive_then_each_venue_clears_on_its_last_order(
        confirmed: list[tuple[int, Venue]], pending: dict[str, list[int]]) -> None:
    flow = _flow()
    flow.on_records(_recs([_cancelled(oid, v) for oid, v in confirmed]) if confirmed else new_events(0))
    assert flow.pending_by_venue() == pending and flow.cancels_confirmed() is (not pending)
    clear = [str(e.venue) for e in flow.timeline.entries if e.event == "venue_clear"]
    assert sorted(clear) == sorted(v.name for _, v in confirmed)


def test_flow_when_a_venue_stays_silent_past_the_deadline_then_partial_naming_its_orders() -> None:
    flow = _flow()
    flow.on_records(_recs([_cancelled(1, Venue.NSDQ), _cancelled(3, Venue.ARCA)]))
    flow.cancel_timeout(5_000, 5.0)
    assert flow.phase is Phase.PARTIAL
    assert flow.problems[0] == "NYSE: 1 resting order(s) not confirmed cancelled within 5 s (2)"
    assert [e.event for e in flow.timeline.entries][-2:] == ["venue_timeout", "partial"]


def test_flow_when_the_cancel_reply_says_it_asked_only_then_no_order_is_gone_without_its_record() -> None:
    flow = _flow()  # the reply listed three orders; no record came
    assert not flow.cancels_confirmed() and flow.gone == {}


def test_flow_when_the_core_lists_no_orders_then_cancels_are_counted_from_the_records() -> None:
    flow = FlattenFlow.start(*_scope(), SNAP, Timeline())
    flow.cancels_listed(950, {"cancelled": 2})
    flow.on_records(_recs([_cancelled(7, Venue.NSDQ), _cancelled(8, Venue.NSDQ, b"PROP02")]))
    assert not flow.cancels_confirmed()  # PROP02's cancel is not in the scope
    flow.on_records(_recs([_cancelled(9, Venue.ARCA)], first_seq=13))
    assert flow.cancels_confirmed()


def test_flow_when_flatten_orders_fill_then_flat_only_by_the_records() -> None:
    flow = _flow()
    flow.on_records(_recs([_cancelled(1, Venue.NSDQ), _cancelled(2, Venue.NYSE), _cancelled(3, Venue.ARCA)]))
    orders = flow.plan_orders({"AAPL": Decimal("230"), "MSFT": Decimal("420")}, Decimal("5"), 200, {}, 500)
    assert [(o["symbol"], o["side"], o["qty"], o["price"], o["flatten"]) for o in orders] == [
        ("AAPL", "SELL", 200, "224.25", True), ("AAPL", "SELL", 100, "224.25", True),
        ("MSFT", "BUY", 200, "430.50", True)]
    flow.submitted(2_000, orders, [{"ok": True, "order_id": 100 + i, "code": "OK"} for i in range(3)])
    flow.on_records(_recs([_fill(100, Side.SELL, 200, b"AAPL"), _fill(101, Side.SELL, 100, b"AAPL")], first_seq=14))
    assert not flow.is_flat() and not flow.round_done()
    flow.on_records(_recs([_fill(102, Side.BUY, 200, b"MSFT")], first_seq=16))
    assert flow.is_flat() and flow.round_done() and flow.finish(3_000) is Phase.FLAT


def test_flow_when_a_position_is_over_the_notional_limit_then_split_into_orders_within_it() -> None:
    flow = _flow()
    orders = flow.plan_orders({"AAPL": Decimal("230"), "MSFT": Decimal("420")}, Decimal("5"), 10_000, {}, 1,
                              Decimal("50000"))
    aapl = [o["qty"] for o in orders if o["symbol"] == "AAPL"]  # 300 @ 224.25: 222 shares fit in $50k
    assert aapl == [222, 78] and all(o["qty"] * Decimal(o["price"]) <= 50000 for o in orders)


def test_flow_when_a_flatten_order_is_rejected_then_partial_with_the_open_position() -> None:
    flow = _flow()
    flow.on_records(_recs([_cancelled(1, Venue.NSDQ), _cancelled(2, Venue.NYSE), _cancelled(3, Venue.ARCA)]))
    orders = flow.plan_orders({"AAPL": Decimal("230"), "MSFT": Decimal("420")}, Decimal("5"), 10_000, {}, 500)
    flow.submitted(2_000, orders, [{"ok": True, "order_id": 100, "code": "OK"},
                                   {"ok": False, "order_id": 101, "code": "RESTRICTED_SYMBOL"}])
    flow.on_records(_recs([_fill(100, Side.SELL, 300, b"AAPL")], first_seq=14))
    assert flow.finish(3_000) is Phase.PARTIAL
    assert flow.open_positions() == {"PROP01": {"MSFT": -200}}
    assert flow.problems == ["flatten order BUY 200 MSFT for PROP01 rejected RESTRICTED_SYMBOL",
                             "PROP01 MSFT: position -200 still open"]


@pytest.mark.parametrize(("scope_code", "key", "level", "reassert"), [
    (1, b"PROP01", KillLevel.REDUCE_ONLY, ["REDUCE_ONLY"]),  # looser on the scope: HALTED again
    (1, b"PROP01", KillLevel.ACTIVE, ["ACTIVE"]),
    (1, b"PROP01", KillLevel.HALTED, []),  # the flatten's own HALTED
    (0, b"", KillLevel.HALTED, []),  # a tighter kill elsewhere: recorded, the flatten goes on
    (1, b"PROP02", KillLevel.REDUCE_ONLY, []),
])
def test_flow_when_a_kill_arrives_during_it_then_the_tighter_level_wins(scope_code: int, key: bytes,
                                                                        level: KillLevel, reassert: list[str]) -> None:
    flow = _flow()
    flow.on_records(_recs([{"etype": int(EventType.KILL_STATE_CHANGED), "qty": scope_code, "price": int(level),
                            "account": key}]))
    assert flow.reassert == reassert


def test_flow_when_records_skip_a_seq_or_change_epoch_then_refused() -> None:
    flow = _flow()
    with pytest.raises(ValueError, match="gap: seq 13 while 11 is next"):
        flow.on_records(_recs([_cancelled(1, Venue.NSDQ)], first_seq=13))
    with pytest.raises(ValueError, match="epoch 4"):
        flow.on_records(_recs([{**_cancelled(1, Venue.NSDQ), "epoch": 4}]))


def test_report_when_rendered_then_every_venue_and_open_item_is_on_the_page() -> None:
    flow = _flow()
    flow.cancel_timeout(5_000, 5.0)
    doc = {"scope": "account", "key": "PROP01", "operator": "jdoe", "reason": "test", "started_ns": 1, "ended_ns": 2,
           "elapsed_ms": 0.0, **flow.to_json(), "timeline_by_venue": flow.timeline.by_venue()}
    html = render_html(doc)
    assert all(f"<h2>{v}</h2>" in html for v in ("NSDQ", "NYSE", "ARCA")) and "not confirmed cancelled" in html
    assert report_name(doc) == "kill-0000000000-account-PROP01" and render_html(doc) == html


@pytest.mark.parametrize(("total", "cap", "used", "want"), [
    (300, 200, set(), [200, 100]),
    (400, 200, set(), [200, 199, 1]),  # two 200s would be one order twice: the core refuses the second
    (600, 200, {200}, [199, 198, 197, 6]),  # a later round never repeats an earlier round's size
    (3, 2, {2, 1}, []),  # no unused size left: nothing planned, the caller reports the rest
])
def test_distinct_slices_when_split_then_sizes_distinct_within_cap_and_summing(total: int, cap: int, used: set[int],
                                                                            want: list[int]) -> None:
    got = distinct_slices(total, cap, used)
    assert got == want
    assert len(set(got)) == len(got) and not set(got) & used and all(0 < q <= cap for q in got)


def test_flow_when_a_position_needs_equal_slices_then_no_two_flatten_orders_are_identical() -> None:
    flow = _flow()
    flow.positions[("PROP01", "AAPL")] = 1000
    orders = flow.plan_orders({"AAPL": Decimal("230"), "MSFT": Decimal("420")}, Decimal("5"), 250, {}, 500)
    keys = [(o["account"], o["symbol"], o["side"], o["qty"], o["price"]) for o in orders]
    assert len(set(keys)) == len(keys)  # the duplicate-order check (15c3-5) would refuse a repeat
    assert sum(o["qty"] for o in orders if o["symbol"] == "AAPL") == 1000
    assert all(o["qty"] <= 250 for o in orders)
