"""TwinCore's Binary Star wiring: the node's engine, the passive gate, the peer link, takeover, and the
publish path that replicates before it journals and publishes.

The HA state machine itself is `ha.HaNode` and the peer-link protocol is `replication.py`; this is where the
server acts on them. `_make_engine` builds an engine wired to this node (persist, `sim`, HA commands), also
on takeover. A passive node serves only hello/status/ha_* (`_ha_gate`); a command that needs the active
node is the client request that lets a passive whose peer is lost take over (`_take_over`, same epoch at the
next seq when caught up, else a new epoch; in-flight orders of the lost node are cancelled). Every batch of
events, engine events (`_flush_events`) and stream bursts (`_run_stream`) alike, goes to the passive and is
acked (`_replicate`, bounded wait; alone: degraded) before it is journaled and published on the drop copy,
so whatever a capture holds, the passive holds.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import zmq

from core_bridge.auth import Identity, KeyRegistry, ServerAuth, server_keypair
from core_bridge.protocol import COMMAND_ROLE, DROPCOPY_TOPIC, Command, KillLevel, Reply, Request, encode_batch
from core_bridge.reasons import ReasonCode
from hw.errors import TwinStateError
from hw.twin.approvals import ApprovalKeys
from hw.twin.command_args import Refused
from hw.twin.engine import CoreEngine
from hw.twin.ha import ACTIVE, PASSIVE, HaNode
from hw.twin.replication import (
    ACK_TIMEOUT_MS,
    PeerLink,
    ReplicaState,
    WorkingOrders,
    apply_state,
    decode_records,
    heartbeat_head,
    peer_view,
    read_tail,
    state_message,
)
from hw.twin.session_clock import event_clock_offset_ns
from hw.twin.sim_command import SimCommand
from hw.twin.stream import SyntheticStream

log = logging.getLogger("hw.twin")

DROPCOPY_BATCH = 1000  # records per drop-copy frame for ordinary events
STREAM_BATCHES_PER_TURN = 64
MAX_PEER_PER_TURN = 256  # peer-link messages read per socket per loop turn (as sockets.MAX_CONTROL_PER_TURN)


class HaWiring(SimCommand):
    """Mixin of `server.TwinCore` (which initialises these fields; `link` is None for a single node)."""

    ha: HaNode
    link: PeerLink | None
    replica: ReplicaState
    working: WorkingOrders
    _dirty_ids: list[str]
    _state_dirty: bool
    _sync_next: bool  # the next replication carries a change acked only once durable: the passive flushes first
    _applied_now: str | None
    peer_next: int | None  # next seq the passive peer expects from us (None: unknown)
    _resync: bool  # our event log must be refilled from seq 1 by the active peer
    auth: ServerAuth
    registry: KeyRegistry
    stream: SyntheticStream
    dropcopy: zmq.Socket

    # ------------------------------------------------------------------ HA: engine, gate, peer, takeover
    _PASSIVE_OK = frozenset({Command.HELLO, Command.STATUS, Command.HA_STATUS, Command.HA_PROMOTE,
                             Command.HA_DEMOTE})

    def _make_engine(self, state: Any, started_ns: int) -> CoreEngine:
        eng = CoreEngine(state, node=self.node, ha=self.ha, started_ns=started_ns)
        eng.event_clock_offset_ns = event_clock_offset_ns()  # a simulated session date, if the demo set one
        secret = server_keypair(self.keys_dir).secret
        eng.approval_keys = ApprovalKeys(secret, self.registry) if secret else None  # four eyes (approvals.py)
        eng.persist = self._persist
        eng.handlers[Command.SIM] = self._sim
        eng.status_extra = lambda: {"auth_failures": self.auth.failures,
                                    "durable_version": self.commit.durable_version, "start": self.start_kind}
        eng.handlers[Command.HA_STATUS] = lambda r, i, n: self.ha.status(self.engine.epoch)
        if self.ha.binary_star:
            eng.handlers[Command.HA_PROMOTE] = self._ha_promote
            eng.handlers[Command.HA_DEMOTE] = self._ha_demote
        eng.on_applied = self._on_applied
        return eng

    def _on_applied(self, req: Request, reply: Reply) -> None:
        self._applied_now = req.id  # the reply to this request is an ack of a change (sockets._answer)
        if self.ha.binary_star:
            self._dirty_ids.append(req.id)
            self._state_dirty = True
            if req.v < 2 or not self.engine.tightening:
                self._sync_next = True  # acked only once durable: on the passive too, before it acks

    def _ha_gate(self, req: Request, ident: Identity, now: int) -> Reply | None:
        """Binary Star: a passive node serves only hello/status/ha_*; a command that needs the active node
        is the *client request* that lets a passive whose peer is lost take over."""
        ha = self.ha
        if not ha.binary_star or ha.is_active() or req.cmd in self._PASSIVE_OK:
            return None
        if not ident.role.allows(COMMAND_ROLE[req.cmd]) or req.expires_ns < now:
            return None  # the engine refuses it; a request we would not serve never triggers a takeover
        code, transition = ha.on_client_request(time.monotonic_ns())
        if transition is not None:
            self._on_transition(transition)
            return None
        assert code is not None
        msg = {ReasonCode.HA_SPLIT_BRAIN: "another node of this pair is active (split brain refused)",
               ReasonCode.HA_FENCED: "fenced after a takeover; the peer is active"}.get(code, "this node is passive")
        return Reply(req.id, False, code.name, self.engine.state.state_version, {"ha": ha.status(self.engine.epoch)},
                     msg)

    def _ha_promote(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        code, transition = self.ha.promote(time.monotonic_ns())
        if code is not None:
            log.warning("ha_promote by %s refused: %s", req.operator, code.name)
            raise Refused(code, self.ha.last_split_brain or "refused")
        if transition is not None:
            self._on_transition(transition)
        return {**self.ha.status(self.engine.epoch), "changed": transition is not None}

    def _ha_demote(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        was_active = self.ha.is_active()
        if was_active:
            self.engine.emit_role_change(now, int(self.ha.fsm_role().value + 1), takeover=False)  # *_PASSIVE
            self._flush_events()
        code, transition = self.ha.demote(time.monotonic_ns())
        if code is not None:
            raise Refused(code, "no live peer to take over; demoting would leave nobody serving")
        if transition is not None:
            self._on_transition(transition)
        return {**self.ha.status(self.engine.epoch), "changed": transition is not None}

    def _on_transition(self, transition: str) -> None:
        log.warning("HA %s: %s now %s (term %d)", self.node, transition, self.ha.state, self.ha.term)
        if transition in ("takeover", "promote"):
            self._take_over(transition)
        elif self.ha.is_active():  # first activation of a fresh pair, or promote with nothing replicated
            self.engine.emit_role_change(time.time_ns(), int(self.ha.fsm_role()), takeover=False)
            self.peer_next = None
            self._state_dirty = True
            self._flush_events()
        else:  # stepped down or following: our log is refilled from the active's
            self._resync = self._resync or transition in ("step_down", "fenced")
            self.peer_next = None

    def _take_over(self, why: str) -> None:
        """Become the active node on the replicated state, continuing the same epoch at the next seq when we
        hold everything the old active announced; otherwise in a new epoch (never reuse a published seq)."""
        rep = self.replica
        state = self.engine.state  # the replica, kept up to date in place by _on_replication
        ann_epoch, ann_seq = rep.announced
        caught_up = (rep.synced and not self._resync and self.eventlog.epoch == state.epoch
                     and (ann_epoch != state.epoch or self.eventlog.last_seq >= ann_seq))
        if not caught_up:
            state.epoch = max([state.epoch, ann_epoch, *self.eventlog.epochs()]) + 1
            self.eventlog.open_epoch(state.epoch)
            log.error("HA takeover behind the old active (%d/%d vs %d/%d): new epoch %d", self.eventlog.epoch,
                      self.eventlog.last_seq, ann_epoch, ann_seq, state.epoch)
        if not caught_up or state.state_version < rep.announced_sv:
            # Unsure we hold every change the old active acked (it acks a tightening once we hold it, but it
            # may have gone on alone): fail closed, as after an unclean stop (docs/ha.md §3).
            log.error("HA takeover unsure of the old active's last changes (state version %d, it announced %d):"
                      " firm HALTED, kill state flagged unknown", state.state_version, rep.announced_sv)
            state.kill_firm = KillLevel.HALTED
            state.state_unknown = True
            state.state_version += 1
        now = time.time_ns()
        eng = self._make_engine(state, self.engine.started_ns)
        if caught_up:
            eng.restore_counters(self.eventlog.last_seq, rep.counters)
        eng.emit_role_change(now, int(self.ha.fsm_role()), takeover=True)
        cancelled = eng.cancel_on_takeover(now, self.working.as_orders()) if caught_up else 0
        self.engine = eng
        self.stream = SyntheticStream(state.epoch)
        self.working = WorkingOrders()
        self.replica = ReplicaState()
        self.peer_next = None
        self._resync = False
        self.ha.degraded = True
        log.warning("HA %s took over (%s): epoch %d from seq %d, %d in-flight orders cancelled", self.node, why,
                    state.epoch, eng.seq + 1, cancelled)
        self._state_dirty = True
        self._flush_events()
        self._persist()
        self._write_endpoint_file()

    def _peer_heartbeat(self) -> None:
        assert self.link is not None
        epoch, last = (0, 0) if self._resync else (self.eventlog.epoch, self.eventlog.last_seq)
        self.link.send(b"H", heartbeat_head(self.ha, self.instance, epoch, last, self.engine.state.state_version),
                       wait=False)

    def _serve_peer(self) -> None:
        link = self.link
        assert link is not None
        for _ in range(MAX_PEER_PER_TURN):
            got = link.recv_dealer()
            if got is None:
                break
            self._on_peer_reply(*got)
        for _ in range(MAX_PEER_PER_TURN):
            msg = link.recv_router()
            if msg is None:
                break
            rid, kind, head, payload = msg
            if kind == b"H":
                self._on_peer_heartbeat(rid, head)
            elif kind == b"R":
                self._on_replication(rid, head, payload)

    def _on_peer_reply(self, kind: bytes, head: dict[str, Any]) -> None:
        mono = time.monotonic_ns()
        if kind == b"A":
            return  # acks outside a wait: late ones, nothing to do
        if kind == b"N" and head.get("code") == ReasonCode.HA_FENCED.name:
            if self.ha.is_active():
                self.ha.on_refused(mono, "peer is active with a newer term")
                self.ha.note_split_brain("two actives: fenced by the peer's newer term")
                self._on_transition("fenced")
        elif kind == b"N":
            epoch, last = head.get("epoch"), head.get("last_seq")
            self.peer_next = (last + 1) if epoch == self.eventlog.epoch and isinstance(last, int) else 1
        elif kind == b"X":
            self.ha.on_refused(mono, str(head.get("why", "the pair already has an active node")))
            self._on_transition("fenced")

    def _on_peer_heartbeat(self, rid: bytes, head: dict[str, Any]) -> None:
        assert self.link is not None
        mono = time.monotonic_ns()
        pv = peer_view(head)
        known = self.ha.peer
        if (known.instance and pv.instance != known.instance and self.ha.peer_alive(mono)
                and (self.ha.is_active() or known.state == ACTIVE) and pv.state != ACTIVE):
            why = f"a second {pv.node or 'node'} ({pv.instance}) tried to join while {known.instance or 'we'} lead"
            self.ha.note_split_brain(why)
            log.error("HA split brain refused: %s", why)
            self.link.reply(rid, b"X", {"why": why, "code": ReasonCode.HA_SPLIT_BRAIN.name})
            return
        if pv.instance != known.instance:
            self.peer_next = None
        transition = self.ha.on_peer(mono, pv)
        if transition is not None:
            self._on_transition(transition)
        if pv.state == ACTIVE and not self.ha.is_active():
            self.replica.announced = (pv.epoch, pv.last_seq)
            sv = head.get("state_version")
            self.replica.announced_sv = sv if isinstance(sv, int) and not isinstance(sv, bool) else 0
        if self.ha.is_active() and pv.state in ("pending", PASSIVE):
            if self.peer_next is None:
                self.peer_next = pv.last_seq + 1 if pv.epoch == self.eventlog.epoch else 1
                self._catch_up_peer(self.eventlog.last_seq, full=True)
            elif self.peer_next <= self.eventlog.last_seq:
                self._catch_up_peer(self.eventlog.last_seq, full=False)

    def _catch_up_peer(self, upto: int, *, full: bool) -> None:
        """Send the peer our log from peer_next..upto (and the state), without waiting for acks."""
        assert self.link is not None and self.peer_next is not None
        epoch = self.eventlog.epoch
        self.engine.sync_positions()
        chunks: list[np.ndarray | None] = []
        if self.peer_next <= upto:
            chunks.extend(read_tail(self.eventlog, epoch, self.peer_next, upto))
        first = self.peer_next
        for i, recs in enumerate(chunks or [None]):
            head = {"epoch": epoch, "first_seq": first, "count": 0 if recs is None else len(recs),
                    "term": self.ha.term, "counters": self.engine.counters(),
                    **state_message(self.engine.state, None if (full and i == 0) else self._dirty_ids)}
            payload = None if recs is None else np.ascontiguousarray(recs).tobytes()
            if not self.link.send(b"R", head, payload):
                self.peer_next = None
                return
            first += head["count"]
        self.peer_next = first
        self._dirty_ids = []

    def _replicate(self, recs: np.ndarray) -> None:
        """Replicate-before-publish: send the batch (and the state) to the passive and wait for its ack."""
        link = self.link
        assert link is not None
        ha = self.ha
        mono = time.monotonic_ns()
        if self.peer_next is None and ha.is_active() and ha.peer_alive(mono) and ha.peer.state != ACTIVE:
            # A live peer whose position we lost track of: start from what its last heartbeat said (a NACK
            # corrects us if that is off), so this batch still goes out replicated.
            self.peer_next = ha.peer.last_seq + 1 if ha.peer.epoch == self.eventlog.epoch else 1
        if not ha.is_active() or not ha.peer_alive(mono) or ha.peer.state == ACTIVE or self.peer_next is None:
            ha.degraded = ha.is_active()
            self._state_dirty = False
            self._dirty_ids = []
            return
        epoch = self.eventlog.epoch
        first = int(recs["seq"][0]) if len(recs) else self.eventlog.last_seq + 1
        if self.peer_next < first:
            self._catch_up_peer(first - 1, full=False)
            if self.peer_next is None:
                ha.degraded = True
                return
        self.engine.sync_positions()
        head = {"epoch": epoch, "first_seq": first, "count": len(recs), "term": ha.term,
                "counters": self.engine.counters(), **state_message(self.engine.state, self._dirty_ids),
                "sync": self._sync_next}
        self._dirty_ids = []
        self._state_dirty = False
        self._sync_next = False
        if not link.send(b"R", head, np.ascontiguousarray(recs).tobytes() if len(recs) else None):
            ha.degraded, self.peer_next = True, None
            return
        self.peer_next = first + len(recs)
        target = first + len(recs) - 1
        deadline = time.monotonic() + ACK_TIMEOUT_MS / 1000
        while (left := deadline - time.monotonic()) > 0:
            got = link.recv_dealer(max(1, int(left * 1000)))
            if got is None:
                continue
            kind, ans = got
            acked = ans.get("last_seq")
            if kind == b"A" and ans.get("epoch") == epoch and isinstance(acked, int) and acked >= target:
                ha.degraded = False
                return
            if kind != b"A":
                self._on_peer_reply(kind, ans)
                if not ha.is_active() or self.peer_next is None or self.peer_next <= target:
                    if ha.is_active() and self.peer_next is not None:  # a gap: resend what the peer lacks
                        self._catch_up_peer(target, full=False)
                        continue
                    return
        log.warning("HA: no replication ack within %d ms: continuing alone (degraded)", ACK_TIMEOUT_MS)
        ha.degraded, self.peer_next = True, None

    def _on_replication(self, rid: bytes, head: dict[str, Any], payload: bytes | None) -> None:
        """The passive side: journal the batch, take the state, ack. Refuse if we are the active node."""
        assert self.link is not None
        ha = self.ha
        raw_term = head.get("term")
        term = raw_term if isinstance(raw_term, int) else 0
        if ha.is_active():
            if ha.term >= term:
                self.link.reply(rid, b"N", {"code": ReasonCode.HA_FENCED.name, "term": ha.term})
                return
            ha.on_refused(time.monotonic_ns(), "replication from a peer with a newer term")
            self._on_transition("fenced")
        try:
            epoch, first, count = (int(head[k]) for k in ("epoch", "first_seq", "count"))
            recs = decode_records(payload, count)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("malformed replication message dropped: %s", exc)
            return
        if epoch != self.eventlog.epoch or self._resync:
            if first != 1:
                self.link.reply(rid, b"N", {"code": "GAP", "epoch": 0, "last_seq": 0})
                return
            self.eventlog.open_epoch(epoch)
            self.working = WorkingOrders()
            self._resync = False
        last = self.eventlog.last_seq
        if first > last + 1:
            self.link.reply(rid, b"N", {"code": "GAP", "epoch": epoch, "last_seq": last})
            return
        part = recs[last + 1 - first:] if count else recs
        if len(part):
            self.eventlog.append(part)
            self.working.fold(part)
        try:
            apply_state(self.engine.state, head)
        except (TwinStateError, KeyError, TypeError, ValueError) as exc:
            log.warning("replicated state rejected: %s", exc)
            return
        self.replica.synced = True
        self.replica.counters = head.get("counters") or {}
        self.engine.epoch = epoch
        self.engine.seq = self.eventlog.last_seq
        self._persist()
        if head.get("sync") is True:
            # a change the active acks only once durable: durable here too before we ack (a tightening is
            # acked on being held in memory here and made durable by our own group commit right after)
            self.commit.drain()
        self.link.reply(rid, b"A", {"epoch": epoch, "last_seq": self.eventlog.last_seq,
                                    "durable_version": self.commit.durable_version})

    # ------------------------------------------------------------------ drop copy + journal
    def _flush_events(self) -> None:
        recs = self.engine.drain()
        if self.link is not None and (len(recs) or self._state_dirty):
            self._replicate(recs)  # before journaling and publishing: whatever goes out, the passive holds
        if len(recs) == 0:
            return
        self.eventlog.append(recs)
        for i in range(0, len(recs), DROPCOPY_BATCH):
            hdr, payload = encode_batch(recs[i:i + DROPCOPY_BATCH])
            try:
                self.dropcopy.send_multipart([DROPCOPY_TOPIC, hdr, payload], zmq.NOBLOCK)
            except zmq.Again:
                pass

    def _run_stream(self) -> None:
        job = self._stream_job
        assert job is not None
        now = time.time_ns()
        due = job.due(time.monotonic_ns())
        for _ in range(STREAM_BATCHES_PER_TURN):
            # A paced burst sends what its rate allows by now, in full batches except for the tail.
            n = min(job.batch, job.remaining, due)
            if n <= 0 or (n < job.batch < job.remaining and job.rate):
                return
            due -= n
            job.done += n
            first, ts = self.engine.reserve(n, now)
            recs = self.stream.batch(first, n, ts)
            if self.link is not None:
                self._replicate(recs)
            hdr, payload = encode_batch(recs)
            self.eventlog.append_bytes(first, payload, n)
            try:
                self.dropcopy.send_multipart([DROPCOPY_TOPIC, hdr, payload], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                pass  # PUB at its high-water mark drops; subscribers recover by rewind
            job.remaining -= n
            if job.remaining == 0:
                self._stream_job = None
                return
