"""What TwinCore serves on its client-facing sockets: control requests, rewind, telemetry.

Control ROUTER: each request is authenticated (ZAP User-Id -> roles.json), passes the HA gate and goes to
the engine; its reply is sent only after its events are journaled and published and the state is persisted.
Malformed input never stops the loop: a bad control frame gets a MSG_MALFORMED reply when it carries a
routing id, anything else is logged and dropped. Rewind ROUTER: requests are served from the event journal
in chunks, a few per loop turn, so one slow reader never stalls the core. Telemetry PUB: heartbeat, health,
positions. (The sockets are created and polled in server.py.)
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import orjson
import zmq

from core_bridge.auth import Identity, KeyRegistry
from core_bridge.protocol import (
    MAX_REWIND_SPAN,
    PROTOCOL_VERSION,
    REWIND_CHUNK,
    TELEMETRY_TOPIC_HEALTH,
    TELEMETRY_TOPIC_HEARTBEAT,
    TELEMETRY_TOPIC_POSITIONS,
    EventFlag,
    Reply,
    Request,
    encode_batch,
)
from core_bridge.reasons import ReasonCode
from hw.twin.command_args import _int_in
from hw.twin.ha_wiring import HaWiring

log = logging.getLogger("hw.twin")

MAX_CONTROL_PER_TURN = 256
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

    # ------------------------------------------------------------------ control
    def _identity(self, frame: zmq.Frame) -> Identity | None:
        try:
            user = frame.get("User-Id")
        except (zmq.ZMQError, UnicodeDecodeError):
            return None
        return self.registry.lookup(user) if isinstance(user, str) and user else None

    def _serve_control(self) -> None:
        for _ in range(MAX_CONTROL_PER_TURN):
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
            if len(frames) != 2:
                reply = Reply("", False, ReasonCode.MSG_MALFORMED.name, self.engine.state.state_version, {},
                              f"expected 1 body frame, got {len(frames) - 1}")
            else:
                reply = self._reply_for(frames[1].bytes, ident, now)
            self._flush_events()
            try:
                self.control.send_multipart([rid, reply.encode()], zmq.NOBLOCK)
            except zmq.ZMQError as exc:
                log.info("control reply to a gone or full peer dropped: %s", exc)

    def _reply_for(self, body: bytes, ident: Identity, now: int) -> Reply:
        try:
            req = Request.decode(body)
        except ValueError as exc:
            unknown = str(exc).startswith("unknown command")
            code = ReasonCode.MSG_UNKNOWN_COMMAND if unknown else ReasonCode.MSG_MALFORMED
            log.info("bad control frame from %s: %s", ident.name, exc)
            return Reply(_best_effort_id(body), False, code.name, self.engine.state.state_version, {}, str(exc)[:200])
        except Exception as exc:  # orjson can raise on pathological input; never let it out of the loop
            log.warning("undecodable control frame from %s: %r", ident.name, exc)
            return Reply("", False, ReasonCode.MSG_MALFORMED.name, self.engine.state.state_version, {}, "undecodable")
        gate = self._ha_gate(req, ident, now)
        if gate is not None:
            return gate
        try:
            return self.engine.handle(req, ident, now)
        except Exception:  # a bug must not take the core down: report, refuse, keep serving
            log.exception("command %s failed", req.cmd.value)
            return Reply(req.id, False, ReasonCode.MSG_ARGS_INVALID.name, self.engine.state.state_version, {},
                         "internal error while applying; nothing acknowledged")

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
        if obj.get("v") != PROTOCOL_VERSION or isinstance(obj.get("v"), bool):
            return ReasonCode.MSG_VERSION_UNSUPPORTED, -1, "v must be 1"
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
        hb = {"node": self.node, "epoch": eng.epoch, "fsm": self.ha.state, "term": self.ha.term,
              "last_seq": eng.seq, "state_version": eng.state.state_version,
              "core_time_ns": time.time_ns(), "trading_state": eng.state.kill_firm.name, "ha_role": eng.ha.ha_role,
              "stream_remaining": self._stream_job.remaining if self._stream_job else 0}
        self.telemetry.send_multipart([TELEMETRY_TOPIC_HEARTBEAT, orjson.dumps(hb)], zmq.NOBLOCK)

    def _health(self, orders_per_s: float) -> None:
        eng = self.engine
        h = {"node": self.node, "epoch": eng.epoch, "core_time_ns": time.time_ns(),
             "orders_per_s": round(orders_per_s, 1), "auth_failures": self.auth.failures,
             "flow_rate": self._flow_rate if self._flow else 0, **eng.health()}
        if self.ha.binary_star:
            h["ha"] = self.ha.status(eng.epoch)
        self.telemetry.send_multipart([TELEMETRY_TOPIC_HEALTH, orjson.dumps(h)], zmq.NOBLOCK)
        if not self.ha.is_active():
            return
        eng.sync_positions()
        pos = {"node": self.node, "epoch": eng.epoch, "positions": eng.state.positions}
        self.telemetry.send_multipart([TELEMETRY_TOPIC_POSITIONS, orjson.dumps(pos)], zmq.NOBLOCK)


def _best_effort_id(body: bytes) -> str:
    try:
        obj = orjson.loads(body)
    except Exception:
        return ""
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and len(rid) <= 128 else ""
