"""Peer link of a Binary Star pair: heartbeats both ways, replicate-before-publish from the active node.

Each node binds a CURVE ROUTER (its `ha` endpoint) and connects a CURVE DEALER to the peer's; the DEALER
uses the `peer` client key (admin role, only that identity is served on the ROUTER).

    DEALER -> peer ROUTER   [b"H", json]            heartbeat every heartbeat_ms: instance, node, FSM state,
                                                      term, epoch, last_seq, state_version (what it holds)
    DEALER -> peer ROUTER   [b"R", json, records]   replication: epoch, first_seq, count, the control state
                                                      (TwinState.to_json), new applied ids, engine counters,
                                                      sync (flush before acking: a change acked once durable)
    ROUTER -> peer DEALER   [b"A", json]            ack: the passive holds epoch/last_seq (journaled, state saved)
    ROUTER -> peer DEALER   [b"N", json]            nack: GAP (resend from last_seq+1) or HA_FENCED (we are
                                                      active with a newer term: the sender must step down)
    ROUTER -> peer DEALER   [b"X", json]            split brain: this pair already has an active node

Why replicate before publish: the active journals and publishes a batch only once the passive has acked it
(bounded wait; with no live peer it goes on alone, `degraded`). So whatever a capture has, the passive has,
and a takeover continues the same epoch at the next seq, with the passive's event log serving rewind. A
passive that knows it is behind (its last_seq is below what the active last announced) takes over into a
new epoch instead, so it never reuses a seq the capture may hold with other content.

The passive folds the replicated events into a table of working orders: on takeover those orders were
on the dead node's venue sessions (cancel-on-disconnect), so the new active emits their cancels
(ORDER_CANCELLED, reason CANCEL_FIRM, flag TAKEOVER) and no order is left in flight.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import zmq

from core_bridge.auth import KeyPair, KeyRegistry, configure_client, configure_server
from core_bridge.protocol import EVENT_DTYPE, EventType, OrdType, Side, TimeInForce, Venue
from hw.twin.eventlog import EventLog
from hw.twin.ha import ACTIVE, PENDING, HaNode, PeerView
from hw.twin.orders import Order
from hw.twin.state import TwinState

log = logging.getLogger("hw.twin.ha")

PEER_IDENTITY = "peer"
ACK_TIMEOUT_MS = 250  # bounded wait of replicate-before-publish while the peer is alive
CATCHUP_CHUNK = 8192
SEND_WAIT_MS = 50


@dataclass
class WorkingOrders:
    """Working orders rebuilt from the event stream (the passive's view of what is in flight)."""

    orders: dict[int, np.void] = field(default_factory=dict)

    def fold(self, recs: np.ndarray) -> None:
        if len(recs) == 0:
            return
        et = recs["etype"]
        interesting = np.isin(et, [EventType.ORDER_ACKED, EventType.ORDER_FILLED, EventType.ORDER_CANCELLED,
                                   EventType.ORDER_EXPIRED, EventType.ROUTE_REJECTED])
        for r in recs[interesting]:
            t, oid = int(r["etype"]), int(r["order_id"])
            if t == EventType.ORDER_ACKED:
                orig = int(r["orig_order_id"])
                if orig:
                    self.orders.pop(orig, None)
                self.orders[oid] = r.copy()
            elif t == EventType.ORDER_FILLED and int(r["leaves_qty"]) > 0:
                if oid in self.orders:
                    self.orders[oid] = r.copy()
            else:
                self.orders.pop(oid, None)

    def as_orders(self) -> list[Order]:
        out = []
        for oid, r in sorted(self.orders.items()):
            leaves = int(r["leaves_qty"])
            out.append(Order(oid, int(r["clordid"]), r["account"].decode(), r["symbol"].decode(), Side(int(r["side"])),
                             int(r["qty"]), leaves, int(r["qty"]) - leaves, int(r["price"]),
                             OrdType(int(r["ord_type"])), TimeInForce(int(r["tif"])), Venue(int(r["venue"])),
                             routed_id=int(r["routed_id"]), venue_order_id=int(r["venue_order_id"]), working=True))
        return out


@dataclass
class ReplicaState:
    """What the passive holds of the active's state beyond the event log."""

    synced: bool = False  # received the active's state at least once
    counters: dict[str, Any] = field(default_factory=dict)
    announced: tuple[int, int] = (0, 0)  # (epoch, last_seq) the active last announced in a heartbeat
    announced_sv: int = 0  # the state version it announced with them (a takeover below it is unsure)


def state_message(state: TwinState, applied_ids: list[str] | None) -> dict[str, Any]:
    """The state part of an R message: the control state and the applied ids (all when `applied_ids` is None)."""
    ids = list(state.applied) if applied_ids is None else [i for i in applied_ids if i in state.applied]
    return {"state": state.to_json(), "full": applied_ids is None,
            "applied": [orjson.Fragment(state.applied[i]) for i in ids]}


def apply_state(target: TwinState, msg: dict[str, Any]) -> None:
    """Bring the passive's TwinState up to the replicated one, in place (the persistence layer tracks one state
    object per directory and logs its deltas), through the public API: from_json for the fields, remember()
    for the applied ids."""
    fresh = TwinState.from_json({**msg["state"], "applied": []})
    for f in dataclasses.fields(TwinState):
        if f.name != "applied":
            setattr(target, f.name, getattr(fresh, f.name))
    for entry in msg.get("applied", []):
        if not isinstance(entry, list) or len(entry) not in (3, 5) or not isinstance(entry[2], dict):
            raise ValueError("replicated applied entry has no reply object")
        target.remember(str(entry[0]), str(entry[1]), entry[2], *(str(x) for x in entry[3:]))


class PeerLink:
    """The two peer sockets and the message exchange; the server owns the loop and the decisions."""

    def __init__(self, ctx: zmq.Context, server_keys: KeyPair, peer_keys: KeyPair, server_public: bytes,
                 registry: KeyRegistry, bind: str, peer: str) -> None:
        self.registry = registry
        self.router = ctx.socket(zmq.ROUTER)
        self.router.linger = 0
        self.router.router_mandatory = True
        configure_server(self.router, server_keys)
        self.router.bind(bind)
        self.endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.linger = 0
        self.dealer.immediate = True  # nothing queues for a peer that is not connected: stale beats are lost
        self.dealer.sndhwm = 100_000
        self.dealer.setsockopt(zmq.RECONNECT_IVL, 50)
        self.dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 200)
        configure_client(self.dealer, peer_keys, server_public)
        self.dealer.connect(peer)
        self.peer_endpoint = peer

    def close(self) -> None:
        self.router.close(0)
        self.dealer.close(0)

    def send(self, kind: bytes, head: dict[str, Any], payload: bytes | None = None, *, wait: bool = True) -> bool:
        frames = [kind, orjson.dumps(head)] + ([payload] if payload is not None else [])
        for _ in range(2 if wait else 1):
            try:
                self.dealer.send_multipart(frames, zmq.NOBLOCK)
                return True
            except zmq.Again:  # not connected (yet): give the handshake a moment, once
                if not self.dealer.poll(SEND_WAIT_MS, zmq.POLLOUT):
                    return False
        return False

    def reply(self, rid: bytes, kind: bytes, head: dict[str, Any]) -> None:
        try:
            self.router.send_multipart([rid, kind, orjson.dumps(head)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.info("peer reply dropped: %s", exc)

    def recv_router(self) -> tuple[bytes, bytes, dict[str, Any], bytes | None] | None:
        """One message from a peer on our ROUTER (only the `peer` key is served); None when none is queued."""
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return None
            try:
                user = frames[-1].get("User-Id")
            except (zmq.ZMQError, UnicodeDecodeError):
                user = None
            ident = self.registry.lookup(user) if isinstance(user, str) else None
            if ident is None or ident.name != PEER_IDENTITY or len(frames) not in (3, 4):
                log.warning("peer channel: message from a non-peer key or malformed, dropped")
                continue
            try:
                head = orjson.loads(frames[2].bytes)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(head, dict):
                continue
            return frames[0].bytes, frames[1].bytes, head, frames[3].bytes if len(frames) == 4 else None

    def recv_dealer(self, timeout_ms: int = 0) -> tuple[bytes, dict[str, Any]] | None:
        if timeout_ms and not self.dealer.poll(timeout_ms):
            return None
        try:
            frames = self.dealer.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None
        if len(frames) != 2:
            return None
        try:
            head = orjson.loads(frames[1])
        except orjson.JSONDecodeError:
            return None
        return (frames[0], head) if isinstance(head, dict) else None


def heartbeat_head(ha: HaNode, instance: str, epoch: int, last_seq: int, state_version: int = 0) -> dict[str, Any]:
    return {"instance": instance, "node": ha.node, "state": ha.state, "term": ha.term, "epoch": epoch,
            "last_seq": last_seq, "fenced": ha.fenced, "state_version": state_version}


def peer_view(head: dict[str, Any]) -> PeerView:
    def num(k: str) -> int:
        v = head.get(k)
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0

    state = head.get("state")
    return PeerView(str(head.get("instance", "")), str(head.get("node", "")),
                    state if state in (PENDING, ACTIVE, "passive") else "", num("term"), num("epoch"),
                    num("last_seq"))


def decode_records(payload: bytes | None, count: int) -> np.ndarray:
    if not payload or count == 0:
        return np.zeros(0, dtype=EVENT_DTYPE)
    recs = np.frombuffer(payload, dtype=EVENT_DTYPE)
    if len(recs) != count:
        raise ValueError(f"replication batch holds {len(recs)} records, header says {count}")
    return recs


def read_tail(eventlog: EventLog, epoch: int, from_seq: int, to_seq: int) -> list[np.ndarray]:
    """The event log's records from_seq..to_seq of epoch, in CATCHUP_CHUNK pieces (catch-up of a peer)."""
    out = []
    seq = from_seq
    while seq <= to_seq:
        n = min(CATCHUP_CHUNK, to_seq - seq + 1)
        out.append(eventlog.read(epoch, seq, n))
        seq += n
    return out


def now_mono() -> int:
    return time.monotonic_ns()
