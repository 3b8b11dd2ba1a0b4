"""The Binary Star state machine as pure transitions (monotonic ns passed in, no sockets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core_bridge.protocol import EVENT_DTYPE, EventType, HaRole
from core_bridge.reasons import ReasonCode
from hw.twin.ha import ACTIVE, PASSIVE, PENDING, HaNode, PeerView
from hw.twin.replication import WorkingOrders

MS = 1_000_000


def node(name: str, tmp: Path) -> HaNode:
    return HaNode.load(name, tmp / name, heartbeat_ms=100, now_ns=0)


def peer(state: str, name: str = "standby", term: int = 0, instance: str = "p1") -> PeerView:
    return PeerView(instance=instance, node=name, state=state, term=term)


def test_primary_when_backup_pending_then_active_with_term_one(tmp_path: Path) -> None:
    p = node("primary", tmp_path)
    assert p.on_peer(10 * MS, peer(PENDING)) == "activate"
    assert p.state == ACTIVE and p.term == 1 and p.fsm_role() is HaRole.PRIMARY_ACTIVE


def test_backup_when_client_request_alone_then_refused_not_active(tmp_path: Path) -> None:
    b = node("standby", tmp_path)
    assert b.on_client_request(10_000 * MS) == (ReasonCode.HA_NOT_ACTIVE, None)
    assert b.state == PENDING


def test_primary_when_alone_past_startup_window_then_client_request_activates(tmp_path: Path) -> None:
    p = node("primary", tmp_path)
    assert p.on_client_request(100 * MS) == (ReasonCode.HA_NOT_ACTIVE, None)  # inside the window
    assert p.on_client_request(400 * MS) == (None, "activate")


def test_passive_when_peer_alive_then_refuses_and_when_lost_then_takes_over(tmp_path: Path) -> None:
    b = node("standby", tmp_path)
    b.on_peer(0, peer(ACTIVE, "primary", term=1))
    assert b.state == PASSIVE and not b.fenced
    assert b.on_client_request(200 * MS) == (ReasonCode.HA_NOT_ACTIVE, None)
    assert b.on_client_request(301 * MS) == (None, "takeover")
    assert b.state == ACTIVE and b.term == 2


@pytest.mark.parametrize(("mine", "theirs", "steps_down"), [(1, 2, True), (3, 2, False)])
def test_two_actives_when_detected_then_lower_term_steps_down_fenced(tmp_path: Path, mine: int, theirs: int,
                                                                      steps_down: bool) -> None:
    a = node("standby", tmp_path)
    a.state, a.term = ACTIVE, mine
    out = a.on_peer(0, peer(ACTIVE, "primary", term=theirs))
    assert (out == "step_down") is steps_down
    assert (a.state == PASSIVE and a.fenced and a.split_brain_refusals == 1) is steps_down


def test_old_primary_when_returning_to_active_peer_then_fenced_and_term_persisted(tmp_path: Path) -> None:
    p = node("primary", tmp_path)
    p.on_peer(0, peer(PENDING))
    again = node("primary", tmp_path)  # restart: the term survives in ha.json
    assert again.term == 1
    again.on_peer(0, peer(ACTIVE, term=2))
    assert again.state == PASSIVE and again.fenced
    assert again.on_client_request(100 * MS) == (ReasonCode.HA_FENCED, None)


def test_promote_when_peer_alive_and_active_then_split_brain_refused(tmp_path: Path) -> None:
    b = node("standby", tmp_path)
    b.on_peer(0, peer(ACTIVE, "primary", term=1))
    assert b.promote(50 * MS) == (ReasonCode.HA_SPLIT_BRAIN, None)
    assert b.split_brain_refusals == 1 and b.state == PASSIVE
    assert b.promote(500 * MS) == (None, "promote")


def test_demote_when_no_live_peer_then_refused(tmp_path: Path) -> None:
    p = node("primary", tmp_path)
    p.on_peer(0, peer(PENDING))
    assert p.demote(10_000 * MS)[0] is ReasonCode.HA_NOT_ACTIVE
    assert p.state == ACTIVE


def test_second_primary_when_refused_by_pair_then_requests_answer_split_brain(tmp_path: Path) -> None:
    p = node("primary", tmp_path)
    p.on_refused(10 * MS, "pair already led")
    assert p.on_client_request(200 * MS)[0] is ReasonCode.HA_SPLIT_BRAIN  # refusals repeat every beat
    assert p.state == PENDING


def _rec(etype: EventType, oid: int, leaves: int = 100, orig: int = 0) -> tuple[object, ...]:
    r = np.zeros(1, dtype=EVENT_DTYPE)
    r["etype"], r["order_id"], r["leaves_qty"], r["orig_order_id"], r["qty"] = etype, oid, leaves, orig, 100
    r["side"], r["venue"], r["ord_type"], r["tif"] = 1, 1, 1, 1
    return tuple(r[0].tolist())


def test_working_orders_when_folded_then_only_open_orders_remain() -> None:
    recs = np.array([_rec(EventType.ORDER_ACKED, 1), _rec(EventType.ORDER_ACKED, 2), _rec(EventType.ORDER_ACKED, 3),
                     _rec(EventType.ORDER_FILLED, 1, leaves=0), _rec(EventType.ORDER_FILLED, 2, leaves=40),
                     _rec(EventType.ORDER_ACKED, 4, orig=3)], dtype=EVENT_DTYPE)
    w = WorkingOrders()
    w.fold(recs)
    assert sorted(w.orders) == [2, 4]
    assert [o.leaves for o in w.as_orders()] == [40, 100]


def test_apply_state_when_replicated_then_fields_and_applied_ids_follow_in_place() -> None:
    from hw.twin.replication import apply_state, state_message
    from hw.twin.state import TwinState, provisioned_state

    active = provisioned_state("2026-11-20")
    active.bp["PROP01"] = "123"
    active.remember("id-1", "set_bp", {"id": "id-1", "ok": True, "code": "OK", "state_version": 1, "result": {}})
    import orjson

    msg = orjson.loads(orjson.dumps(state_message(active, ["id-1"])))
    passive = TwinState()
    same = passive
    apply_state(passive, msg)
    assert passive is same and passive.bp["PROP01"] == "123" and passive.locates == active.locates
    assert passive.applied_reply("id-1") == ("set_bp", {"id": "id-1", "ok": True, "code": "OK",
                                                        "state_version": 1, "result": {}})
