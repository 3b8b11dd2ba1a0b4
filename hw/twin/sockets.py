"""What TwinCore serves on its client-facing sockets: control requests, rewind, telemetry.

Control ROUTER: each request is authenticated (ZAP User-Id -> roles.json), passes the HA gate and goes to
the engine; its reply is sent after its events are journaled and published (replicated first, in a pair):
at once for a tightening control of a v2 request, and only once the group commit has made it durable for
everything else that changed state (`_answer`, protocol v2's ack contract, docs/protocol.md §3.8).
Malformed input never stops the loop: a bad control frame gets a MSG_MALFORMED reply when it carries a
routing id, anything else is logged and dropped. Rewind ROUTER: requests are served from the event journal
in chunks, a few per loop turn, so one slow reader never stalls the core. Telemetry PUB: heartbeat, health,
positions, marks. (The sockets are created and polled in server.py.)
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import orjson
import zmq

from core_bridge.auth import Identity, KeyRegistry
from core_bridge.protocol import (
    MAX_REWIND_SPAN,
    MUTATING,
    PROTOCOL_VERSION,
    REWIND_CHUNK,
    STREAM_VERSION,
    SUPPORTED_VERSIONS,
    TELEMETRY_TOPIC_HEALTH,
    TELEMETRY_TOPIC_HEARTBEAT,
    TELEMETRY_TOPIC_MARKS,
    TELEMETRY_TOPIC_POSITIONS,
    Command,
    EventFlag,
    Reply,
    Request,
    encode_batch,
    from_fixed,
)
from core_bridge.reasons import ReasonCode
from hw.twin.clock_plan import CLOCK_SOURCE, ClockPlan
from hw.twin.command_args import _int_in
from hw.twin.ha_wiring import HaWiring
from hw.twin.session_clock import ENV as SESSION_ENV

log = logging.getLogger("hw.twin")

MAX_CONTROL_PER_TURN = 256
_NOT_VERSIONED = frozenset({Command.HA_PROMOTE, Command.HA_DEMOTE})  # no state version, no idempotency
MAX_REWIND_JOBS = 64
REWIND_CHUNKS_PER_TURN = 8


@dataclass
class _RewindJob:
    rid: bytes
    epoch: int
    next_seq: int
    to_seq: int
    last_seq: int


class SocketServices(HaWiring):
    """Mixin of `server.TwinCore` (which creates these sockets in `_setup`)."""

    registry: KeyRegistry
    control: zmq.Socket
    rewind: zmq.Socket
    telemetry: zmq.Socket
    _rewinds: deque[_RewindJob]
    _applied_now: str | None  # id of the command the engine applied in this request (set by _on_applied)
    _not_durable: dict[str, tuple[int, bool]]  # applied ids not yet durable -> (state_version, tightening)
    _held: list[tuple[int, bytes, Reply]]  # acks waiting for the disk: (state_version, routing id, reply)
    _persist_deferred: bool  # a control request is being applied: its persist waits until its reply went out
    _persist_due: bool  # ... and one was asked for
    _followups: list[tuple[int, bytes, str]]  # durable_notify follow-ups due: (state_version, routing id, id)
    _clock_plan: ClockPlan | None = None  # created at the first heartbeat (its t0 is the twin's start)
    _clock_t0: float = 0.0

    # ------------------------------------------------------------------ control
    def _identity(self, frame: zmq.Frame) -> Identity | None:
        try:
            user = frame.get("User-Id")
        except (zmq.ZMQError, UnicodeDecodeError):
            return None
        return self.registry.lookup(user) if isinstance(user, str) and user else None

    def _serve_control(self) -> None:
        for _ in range(MAX_CONTROL_PER_TURN):
            if not cast(int, self.control.get(zmq.EVENTS)) & zmq.POLLIN:
                return  # cheaper than the zmq.Again a NOBLOCK receive raises on an empty socket
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            rid = frames[0].bytes
            ident = self._identity(frames[-1])
            if ident is None:  # ZAP let it through, yet the key is not in the registry (reloaded since?)
                log.warning("control message from a key not in roles.json dropped")
                continue
            now = time.time_ns()
            req: Request | None = None
            if len(frames) != 2:
                reply = Reply("", False, ReasonCode.MSG_MALFORMED.name, self.engine.state.state_version, {},
                              f"expected 1 body frame, got {len(frames) - 1}")
            else:
                # The change is handed to the group commit after its ack is on the wire: staging the state log
                # record (and waking the flusher) is not on the kill's path; an unclean stop before the flush
                # comes back HALTED (§3.8), and an ack that waits for the disk still waits for this record.
                self._persist_deferred = True
                try:
                    req, reply = self._reply_for(frames[1].bytes, ident, now)
                finally:
                    self._persist_deferred = False
            self._flush_events()
            self._answer(rid, req, reply)
            if self._persist_due:
                self._persist_due = False
                self._persist()

    def _reply_for(self, body: bytes, ident: Identity, now: int) -> tuple[Request | None, Reply]:
        try:
            req = Request.decode(body)
        except ValueError as exc:
            unknown = str(exc).startswith("unknown command")
            code = ReasonCode.MSG_UNKNOWN_COMMAND if unknown else ReasonCode.MSG_MALFORMED
            log.info("bad control frame from %s: %s", ident.name, exc)
            return None, Reply(_best_effort_id(body), False, code.name, self.engine.state.state_version, {},
                               str(exc)[:200])
        except Exception as exc:  # orjson can raise on pathological input; never let it out of the loop
            log.warning("undecodable control frame from %s: %r", ident.name, exc)
            return None, Reply("", False, ReasonCode.MSG_MALFORMED.name, self.engine.state.state_version, {},
                               "undecodable")
        gate = self._ha_gate(req, ident, now)
        if gate is not None:
            return req, gate
        self.engine.tightening = False
        self._applied_now = None
        try:
            return req, self.engine.handle(req, ident, now)
        except Exception:  # a bug must not take the core down: report, refuse, keep serving
            log.exception("command %s failed", req.cmd.value)
            return req, Reply(req.id, False, ReasonCode.MSG_ARGS_INVALID.name, self.engine.state.state_version, {},
                              "internal error while applying; nothing acknowledged")

    # ------------------------------------------------------------------ the ack contract (protocol v2, §3.8)
    def _answer(self, rid: bytes, req: Request | None, reply: Reply) -> None:
        """Send a reply now, or hold it until its change is durable. An ack (or the replay of one) of a
        mutating command waits for durability unless the command was tightening and the request speaks v2;
        a v2 reply carries the durable version at the time it is sent."""
        v = req.v if req is not None and req.v in SUPPORTED_VERSIONS else PROTOCOL_VERSION
        reply.v = v
        durable = self.commit.durable_version
        if req is not None and reply.ok and req.cmd in MUTATING and req.cmd not in _NOT_VERSIONED:
            sv = reply.state_version
            if self._applied_now == req.id:
                tight = self.engine.tightening
                if sv > durable:
                    self._not_durable[req.id] = (sv, tight)
            else:  # a replay: as its original; one no longer waiting for the disk is durable already
                tight = self._not_durable.get(req.id, (0, True))[1]
            if sv > durable:
                if v < 2 or not tight:
                    self._held.append((sv, rid, reply))
                    self._await_flush(sv)
                    return
                self._send_reply(rid, reply, durable)
                if req.durable_notify:  # after the ack it follows
                    self._followups.append((sv, rid, req.id))
                    self._await_flush(sv)
                return
        self._send_reply(rid, reply, durable)

    def _await_flush(self, sv: int) -> None:
        """Something waits for the disk: have the group commit wake the loop (and catch a flush that ended
        before it could see the request)."""
        self.commit.want_wake = True
        self.commit.waiting()
        if self.commit.durable_version >= sv:
            self._on_durable()

    def _send_reply(self, rid: bytes, reply: Reply, durable: int) -> None:
        if reply.v >= 2:
            reply.durable_version = durable
        try:
            self.control.send_multipart([rid, reply.encode()], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.info("control reply to a gone or full peer dropped: %s", exc)

    def _on_durable(self) -> None:
        """The group commit moved: send the held acks and the follow-ups it made durable."""
        durable = self.commit.take_notifications()
        if self.commit.failed is not None:
            try:
                self.commit.recover(self.engine.state)
            except Exception:
                log.exception("state cannot be made durable; held acks stay held")
            durable = self.commit.durable_version
        if any(sv <= durable for sv, _, _ in self._held):
            keep = []
            for sv, rid, reply in sorted(self._held, key=lambda h: h[0]):
                if sv <= durable:
                    self._send_reply(rid, reply, durable)
                else:
                    keep.append((sv, rid, reply))
            self._held = keep
        if self._followups:
            keep_f = []
            for sv, rid, rid_id in self._followups:
                if sv <= durable:
                    self._send_reply(rid, Reply(rid_id, True, "OK", sv, {}, "", 2, durable, "durable"), durable)
                else:
                    keep_f.append((sv, rid, rid_id))
            self._followups = keep_f
        if self._not_durable:
            for rid_id in [k for k, (sv, _) in self._not_durable.items() if sv <= durable]:
                del self._not_durable[rid_id]
        self.commit.want_wake = bool(self._held or self._followups)

    # ------------------------------------------------------------------ rewind
    def _accept_rewinds(self) -> None:
        for _ in range(MAX_CONTROL_PER_TURN):
            try:
                frames = self.rewind.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            rid = frames[0].bytes
            if self._identity(frames[-1]) is None:
                continue
            self._flush_events()  # so the journal holds everything sequenced so far
            job_or_code = self._parse_rewind(frames)
            if isinstance(job_or_code, _RewindJob):
                job_or_code.rid = rid
                self._rewinds.append(job_or_code)
            else:
                code, epoch, message = job_or_code
                last = self.eventlog.last_seq_of(epoch) if epoch >= 0 else None
                self._send_rewind_end(rid, epoch, last or 0, code, message)

    def _parse_rewind(self, frames: list[zmq.Frame]) -> _RewindJob | tuple[ReasonCode, int, str]:
        if len(frames) != 2:
            return ReasonCode.MSG_MALFORMED, -1, f"expected 1 body frame, got {len(frames) - 1}"
        try:
            obj = orjson.loads(frames[1].bytes)
        except Exception:
            return ReasonCode.MSG_MALFORMED, -1, "not JSON"
        if not isinstance(obj, dict):
            return ReasonCode.MSG_MALFORMED, -1, "not a JSON object"
        if obj.get("v") not in (STREAM_VERSION, PROTOCOL_VERSION) or isinstance(obj.get("v"), bool):
            return ReasonCode.MSG_VERSION_UNSUPPORTED, -1, f"v must be {STREAM_VERSION} (or {PROTOCOL_VERSION})"
        vals = [obj.get(k) for k in ("epoch", "from_seq", "to_seq")]
        if not all(_int_in(v, 0, 2**63 - 1) for v in vals):
            return ReasonCode.MSG_MALFORMED, -1, "epoch, from_seq, to_seq must be non-negative integers"
        epoch, lo, hi = (int(v) for v in vals)  # type: ignore[arg-type]
        last = self.eventlog.last_seq_of(epoch)
        if last is None:
            return ReasonCode.REWIND_EPOCH_UNKNOWN, epoch, f"epoch {epoch} not in the journal"
        if lo < 1 or hi < lo or hi > last or hi - lo + 1 > MAX_REWIND_SPAN:
            return ReasonCode.REWIND_OUT_OF_RANGE, epoch, f"journal holds 1..{last} of epoch {epoch}"
        if len(self._rewinds) >= MAX_REWIND_JOBS:
            return ReasonCode.MSG_ARGS_INVALID, epoch, "too many rewinds in progress; retry"
        return _RewindJob(b"", epoch, lo, hi, last)

    def _send_rewind_end(self, rid: bytes, epoch: int, last: int, code: ReasonCode, message: str = "") -> None:
        end = {"end": True, "epoch": epoch, "last_seq": last, "code": code.name}
        if message:
            end["message"] = message
        try:
            self.rewind.send_multipart([rid, orjson.dumps(end)], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            log.info("rewind end to a gone or full peer dropped: %s", exc)

    def _serve_rewinds(self) -> None:
        for _ in range(len(self._rewinds)):
            job = self._rewinds.popleft()
            keep = True
            for _ in range(REWIND_CHUNKS_PER_TURN):
                n = min(REWIND_CHUNK, job.to_seq - job.next_seq + 1)
                recs = self.eventlog.read(job.epoch, job.next_seq, n)
                recs["flags"] |= np.uint8(EventFlag.REPLAY)
                hdr, payload = encode_batch(recs)
                try:
                    self.rewind.send_multipart([job.rid, hdr, payload], zmq.NOBLOCK)
                except zmq.Again:
                    break  # peer's queue full: try again next turn
                except zmq.ZMQError:
                    keep = False  # peer gone
                    break
                job.next_seq += n
                if job.next_seq > job.to_seq:
                    self._send_rewind_end(job.rid, job.epoch, job.last_seq, ReasonCode.OK)
                    keep = False
                    break
            if keep:
                self._rewinds.append(job)

    # ------------------------------------------------------------------ telemetry
    def _heartbeat(self) -> None:
        eng = self.engine
        now = time.time_ns()
        hb = {"node": self.node, "epoch": eng.epoch, "fsm": self.ha.state, "term": self.ha.term,
              "last_seq": eng.seq, "state_version": eng.state.state_version,
              "durable_version": self.commit.durable_version,
              "core_time_ns": now, "trading_state": eng.state.kill_firm.name, "ha_role": eng.ha.ha_role,
              "stream_remaining": self._stream_job.remaining if self._stream_job else 0}
        hb |= self._clock_fields(now)
        self.telemetry.send_multipart([TELEMETRY_TOPIC_HEARTBEAT, orjson.dumps(hb)], zmq.NOBLOCK)

    def _clock_fields(self, core_time_ns: int) -> dict[str, Any]:
        """The PTP offset (modelled: hw/twin/clock_plan.py) and the event clock the offset applies to."""
        plan = self._clock_plan
        if plan is None:
            date = os.environ.get(SESSION_ENV, "") or time.strftime("%Y-%m-%d", time.gmtime())
            plan = self._clock_plan = ClockPlan.from_env(date)
            self._clock_t0 = time.monotonic()
        offset = plan.offset_ns(time.monotonic() - self._clock_t0)
        return {"clock_offset_ns": offset, "clock_source": CLOCK_SOURCE,
                "event_time_ns": core_time_ns + self.engine.event_clock_offset_ns}

    def _health(self, orders_per_s: float) -> None:
        eng = self.engine
        h = {"node": self.node, "epoch": eng.epoch, "core_time_ns": time.time_ns(),
             "orders_per_s": round(orders_per_s, 1), "auth_failures": self.auth.failures,
             "flow_rate": self._flow_rate if self._flow else 0, **eng.health(),
             "durable_version": self.commit.durable_version, "durable_lag_ns": _lag_stats(self.commit.take_lags())}
        if self.ha.binary_star:
            h["ha"] = self.ha.status(eng.epoch)
        self.telemetry.send_multipart([TELEMETRY_TOPIC_HEALTH, orjson.dumps(h)], zmq.NOBLOCK)
        if not self.ha.is_active():
            return
        eng.sync_positions()
        pos = {"node": self.node, "epoch": eng.epoch, "positions": eng.state.positions}
        self.telemetry.send_multipart([TELEMETRY_TOPIC_POSITIONS, orjson.dumps(pos)], zmq.NOBLOCK)
        # The market's reference prices, so the ops side can mark positions (unrealized P&L, exposure).
        marks = {"node": self.node, "epoch": eng.epoch, "core_time_ns": time.time_ns(),
                 "marks": {sym: from_fixed(px) for sym, px in sorted(eng.risk.ref_price.items())}}
        self.telemetry.send_multipart([TELEMETRY_TOPIC_MARKS, orjson.dumps(marks)], zmq.NOBLOCK)


def _best_effort_id(body: bytes) -> str:
    try:
        obj = orjson.loads(body)
    except Exception:
        return ""
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and len(rid) <= 128 else ""


def _lag_stats(lags: list[int]) -> dict[str, int | None]:
    """Apply-to-durable lag over the last health period (submit to the group commit -> flushed)."""
    lags.sort()

    def pct(p: float) -> int | None:
        return lags[min(len(lags) - 1, int(p * len(lags)))] if lags else None

    return {"p50": pct(0.5), "p99": pct(0.99), "max": lags[-1] if lags else None, "samples": len(lags)}
