"""TwinCore: the twin's sockets and main loop around `engine.CoreEngine`.

One thread, one poll loop (like the real core's control thread): control ROUTER, rewind ROUTER, telemetry
PUB and drop-copy PUB, all CURVE servers authenticated by ZAP against roles.json. Each loop turn:
control requests (each reply is sent only after its events are journaled and published and the state is
persisted), rewind requests (served in chunks, a few per turn, so the loop never stalls), temporary
limit reverts, simulated flow, stream batches, heartbeats (100 ms) and health (1 s).

Malformed input never stops the loop: a bad control frame gets a MSG_MALFORMED reply when it carries a
routing id, anything else is logged and dropped. Command dispatch is the engine's `handlers` table; the
twin-only `sim` command is registered here.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zmq

from core_bridge.auth import (
    Identity,
    KeyRegistry,
    ServerAuth,
    client_keypair,
    configure_server,
    generate_keyset,
    server_keypair,
)
from core_bridge.protocol import (
    COMMAND_ROLE,
    DROPCOPY_TOPIC,
    MAX_REWIND_SPAN,
    PROTOCOL_VERSION,
    REWIND_CHUNK,
    TELEMETRY_TOPIC_HEALTH,
    TELEMETRY_TOPIC_HEARTBEAT,
    TELEMETRY_TOPIC_POSITIONS,
    Command,
    EventFlag,
    Reply,
    Request,
    Role,
    encode_batch,
)
from core_bridge.reasons import ReasonCode
from hw.errors import TwinStateError
from hw.twin.engine import ArgsInvalid, CoreEngine, Refused
from hw.twin.eventlog import EventLog
from hw.twin.ha import ACTIVE, DEFAULT_HEARTBEAT_MS, PASSIVE, HaNode
from hw.twin.market import FlowGenerator
from hw.twin.replication import (
    ACK_TIMEOUT_MS,
    PEER_IDENTITY,
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
from hw.twin.state import STATE_FILE, load_state, save_state, unknown_state
from hw.twin.stream import SyntheticStream

log = logging.getLogger("hw.twin")

HEARTBEAT_NS = 100_000_000
HEALTH_NS = 1_000_000_000
DROPCOPY_BATCH = 1000  # records per drop-copy frame for ordinary events
MAX_CONTROL_PER_TURN = 256
MAX_REWIND_JOBS = 64
REWIND_CHUNKS_PER_TURN = 8
STREAM_BATCHES_PER_TURN = 64
MAX_STREAM_COUNT = 500_000_000
LIVE_FLOW_MAX_WORKING = 200  # a live flow never reaches a close, so the oldest resting orders get cancelled


def endpoint_file(home: Path, node: str) -> Path:
    """Where a running twin writes its endpoints and pid: <home>/run/twin-<node>.json."""
    return home / "run" / f"twin-{node}.json"


def read_endpoint_file(home: Path, node: str = "primary") -> dict[str, Any] | None:
    """The running twin's {node, pid, endpoints{control,telemetry,dropcopy,rewind}, keys_dir, state_dir, ...}."""
    try:
        obj = orjson.loads(endpoint_file(home, node).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


@dataclass
class _RewindJob:
    rid: bytes
    epoch: int
    next_seq: int
    to_seq: int
    last_seq: int


@dataclass
class _StreamJob:
    remaining: int
    batch: int


class TwinCore:
    """A running twin node. `serve_forever()` runs the loop until `request_stop()` (or SIGTERM)."""

    def __init__(self, home: Path, node: str, endpoints: dict[str, str], *, keys_dir: Path | None = None,
                 state_dir: Path | None = None, flow_rate: int = 0, seed: int = 1, ha_endpoint: str | None = None,
                 peer_endpoint: str | None = None, heartbeat_ms: int = DEFAULT_HEARTBEAT_MS) -> None:
        self.home = home
        # Binary Star pair wiring (hw.twin.ha, hw.twin.replication); None: a single always-active node.
        self.ha_endpoint = ha_endpoint
        self.peer_endpoint = peer_endpoint
        self.heartbeat_ms = heartbeat_ms
        self.link: PeerLink | None = None
        self.replica = ReplicaState()
        self.working = WorkingOrders()
        self._dirty_ids: list[str] = []
        self._state_dirty = False
        self.peer_next: int | None = None  # next seq the passive peer expects from us (None: unknown)
        self._resync = False  # our event log must be refilled from seq 1 by the active peer
        self.node = node
        self.endpoints = dict(endpoints)
        self.keys_dir = keys_dir or home / "keys"
        self.state_dir = state_dir or home / "twin" / node
        self.seed = seed
        self._stop = False
        self._flow: FlowGenerator | None = None
        self._flow_rate = 0
        self._flow_t0 = 0
        self._flow_done = 0
        self._rewinds: deque[_RewindJob] = deque()
        self._stream_job: _StreamJob | None = None
        self._setup()
        if flow_rate > 0:
            self.start_flow(flow_rate, seed)

    # ------------------------------------------------------------------ setup / teardown
    def _setup(self) -> None:
        if not (self.keys_dir / "core.key_secret").exists():
            generate_keyset(self.keys_dir)
        if self.ha_endpoint and not (self.keys_dir / "clients" / f"{PEER_IDENTITY}.key_secret").exists():
            generate_keyset(self.keys_dir, {PEER_IDENTITY: Role.ADMIN})
        self.registry = KeyRegistry.load(self.keys_dir)
        self.eventlog = EventLog(self.state_dir / "events")
        try:
            state = load_state(self.state_dir)
        except TwinStateError as exc:
            log.error("state unknown, coming up HALTED: %s", exc)
            bad = self.state_dir / STATE_FILE
            if bad.exists():
                os.replace(bad, self.state_dir / f"{STATE_FILE}.corrupt-{time.time_ns()}")
            state = unknown_state()
        state.epoch = max([state.epoch, *self.eventlog.epochs()]) + 1
        save_state(self.state_dir, state)
        self.eventlog.open_epoch(state.epoch)
        now = time.time_ns()
        self.instance = f"{self.node}-{os.getpid()}-{now}"
        if self.ha_endpoint and self.peer_endpoint:
            self.ha = HaNode.load(self.node, self.state_dir, heartbeat_ms=self.heartbeat_ms,
                                  now_ns=time.monotonic_ns())
        else:
            self.ha = HaNode(self.node)
        self.engine = self._make_engine(state, now)
        self.stream = SyntheticStream(state.epoch)

        self.ctx = zmq.Context()
        self.auth = ServerAuth(self.ctx, self.registry)
        keys = server_keypair(self.keys_dir)

        def sock(kind: int, name: str) -> zmq.Socket:
            s = self.ctx.socket(kind)
            s.linger = 0
            configure_server(s, keys)
            if kind == zmq.ROUTER:
                s.router_mandatory = True  # a full or vanished peer raises instead of dropping silently
                s.rcvhwm = 10_000
                s.sndhwm = 10_000
            else:
                s.sndhwm = 2_000  # drop copy never back-pressures the core; gaps are recovered by rewind
            s.bind(self.endpoints[name])
            self.endpoints[name] = s.getsockopt_string(zmq.LAST_ENDPOINT)
            return s

        self.control = sock(zmq.ROUTER, "control")
        self.telemetry = sock(zmq.PUB, "telemetry")
        self.dropcopy = sock(zmq.PUB, "dropcopy")
        self.rewind = sock(zmq.ROUTER, "rewind")
        self.poller = zmq.Poller()
        self.poller.register(self.control, zmq.POLLIN)
        self.poller.register(self.rewind, zmq.POLLIN)
        if self.ha.binary_star:
            assert self.ha_endpoint is not None and self.peer_endpoint is not None
            self.link = PeerLink(self.ctx, keys, client_keypair(self.keys_dir, PEER_IDENTITY),
                                 keys.public, self.registry, self.ha_endpoint, self.peer_endpoint)
            self.endpoints["ha"] = self.link.endpoint
            self.poller.register(self.link.router, zmq.POLLIN)
            self.poller.register(self.link.dealer, zmq.POLLIN)
        self._write_endpoint_file()
        log.info("twin %s up: epoch %d, trading %s%s, endpoints %s", self.node, state.epoch, state.kill_firm.name,
                 " (state unknown)" if state.state_unknown else "", self.endpoints)

    def _write_endpoint_file(self) -> None:
        path = endpoint_file(self.home, self.node)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({
            "node": self.node, "pid": os.getpid(), "endpoints": self.endpoints, "keys_dir": str(self.keys_dir),
            "state_dir": str(self.state_dir), "epoch": self.engine.epoch, "started_ns": self.engine.started_ns,
            "peer": self.peer_endpoint, "instance": self.instance,
        }, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)

    def close(self) -> None:
        try:
            if self.ha.is_active():  # a passive's state is the replica; its engine's books are not live
                self._flush_events()
                self.engine.sync_positions()
            self._persist()
        finally:
            if self.link is not None:
                self.link.close()
            for s in (self.control, self.telemetry, self.dropcopy, self.rewind):
                s.close(0)
            self.auth.stop()
            self.ctx.term()
            self.eventlog.close()
            info = read_endpoint_file(self.home, self.node)
            if info and info.get("pid") == os.getpid():
                endpoint_file(self.home, self.node).unlink(missing_ok=True)

    def _persist(self) -> None:
        save_state(self.state_dir, self.engine.state)

    def request_stop(self, *_: Any) -> None:
        self._stop = True

    # ------------------------------------------------------------------ loop
    def serve_forever(self) -> None:
        if threading.current_thread() is threading.main_thread():  # in a thread, call request_stop() instead
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        next_hb = time.monotonic_ns()
        next_peer_hb = next_hb
        peer_hb_ns = self.ha.heartbeat_ms * 1_000_000
        next_health = next_hb + HEALTH_NS
        last_health = next_hb
        accepted_at_health = 0
        next_flow_persist = next_hb + HEALTH_NS
        try:
            while not self._stop:
                mono = time.monotonic_ns()
                timeout_ms = max(0, (min(next_hb, next_peer_hb if self.link else next_hb) - mono) // 1_000_000)
                if self._flow is not None or self._rewinds:
                    timeout_ms = min(timeout_ms, 1 if self._rewinds else 2)  # a slow rewind peer: no busy spin
                if self._stream_job is not None:
                    timeout_ms = 0
                revert = self.engine.next_revert_ns() if self.ha.is_active() else None  # passive: the active reverts
                if revert is not None:
                    timeout_ms = min(timeout_ms, max(0, (revert - time.time_ns()) // 1_000_000 + 1))
                ready = dict(self.poller.poll(timeout_ms))
                if self.link is not None:
                    # Peer first: a node resumed after a freeze learns it was fenced before serving anything.
                    self._serve_peer()
                    if time.monotonic_ns() >= next_peer_hb:
                        self._peer_heartbeat()
                        next_peer_hb = time.monotonic_ns() + peer_hb_ns
                if self.control in ready:
                    self._serve_control()
                if self.rewind in ready:
                    self._accept_rewinds()
                now = time.time_ns()
                leading = self.ha.is_active()
                if leading and revert is not None and revert <= now and self.engine.revert_due_limits(now):
                    self._state_dirty = True
                    self._flush_events()
                    self._persist()
                if self._flow is not None and leading:
                    self._run_flow(now)
                self._flush_events()
                if self._rewinds:
                    self._serve_rewinds()
                if self._stream_job is not None and leading:
                    self._run_stream()
                mono = time.monotonic_ns()
                if mono >= next_hb:
                    self._heartbeat()
                    next_hb = mono + HEARTBEAT_NS
                if mono >= next_health:
                    dt = max(1, mono - last_health)
                    rate = (self.engine.orders_accepted - accepted_at_health) * 1_000_000_000 / dt
                    accepted_at_health = self.engine.orders_accepted
                    last_health = mono
                    self._health(rate)
                    next_health = mono + HEALTH_NS
                if self._flow is not None and leading and mono >= next_flow_persist:
                    self.engine.sync_positions()
                    self._persist()
                    next_flow_persist = mono + HEALTH_NS
        finally:
            self.close()

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

    # ------------------------------------------------------------------ sim (twin only)
    def _sim(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        action = a.get("action")
        if action == "start_flow":
            rate, seed = a.get("rate", 100), a.get("seed", self.seed)
            if not _int_in(rate, 1, 100_000) or not _int_in(seed, 0, 2**63 - 1):
                raise ArgsInvalid("rate must be 1..100000 orders/s and seed a non-negative integer")
            self.start_flow(rate, seed)
            return {"flow_rate": rate, "seed": seed}
        if action == "stop_flow":
            self._flow = None
            return {"flow_rate": 0}
        if action == "end_of_day":
            return {"expired": self.engine.end_of_day(now)}
        if action == "stream":
            count, batch = a.get("count"), a.get("batch", 1000)
            if not _int_in(count, 1, MAX_STREAM_COUNT) or not _int_in(batch, 1, REWIND_CHUNK):
                raise ArgsInvalid(f"count must be 1..{MAX_STREAM_COUNT} and batch 1..{REWIND_CHUNK}")
            if self._stream_job is not None:
                raise ArgsInvalid("a stream is already running")
            self._stream_job = _StreamJob(int(count), int(batch))  # type: ignore[arg-type]
            return {"count": count, "batch": batch, "epoch": self.engine.epoch, "first_seq": self.engine.seq + 1}
        raise ArgsInvalid("action must be start_flow, stop_flow, end_of_day or stream")

    def start_flow(self, rate: int, seed: int) -> None:
        self._flow = FlowGenerator(seed, max_working=LIVE_FLOW_MAX_WORKING)
        self._flow_rate = rate
        self._flow_t0 = time.monotonic_ns()
        self._flow_done = 0

    def _run_flow(self, now: int) -> None:
        assert self._flow is not None
        due = (time.monotonic_ns() - self._flow_t0) * self._flow_rate // 1_000_000_000 - self._flow_done
        for _ in range(min(due, 2000)):
            self._flow.step(self.engine, now)
            self._flow_done += 1
        if due > 2000:  # fell behind: skip rather than burst
            self._flow_done += due - 2000

    def _run_stream(self) -> None:
        job = self._stream_job
        assert job is not None
        now = time.time_ns()
        for _ in range(STREAM_BATCHES_PER_TURN):
            n = min(job.batch, job.remaining)
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

    # ------------------------------------------------------------------ HA: engine, gate, peer, takeover
    _PASSIVE_OK = frozenset({Command.HELLO, Command.STATUS, Command.HA_STATUS, Command.HA_PROMOTE,
                             Command.HA_DEMOTE})

    def _make_engine(self, state: Any, started_ns: int) -> CoreEngine:
        eng = CoreEngine(state, node=self.node, ha=self.ha, started_ns=started_ns)
        eng.event_clock_offset_ns = event_clock_offset_ns()  # a simulated session date, if the demo set one
        eng.persist = self._persist
        eng.handlers[Command.SIM] = self._sim
        eng.status_extra = lambda: {"auth_failures": self.auth.failures}
        eng.handlers[Command.HA_STATUS] = lambda r, i, n: self.ha.status(self.engine.epoch)
        if self.ha.binary_star:
            eng.handlers[Command.HA_PROMOTE] = self._ha_promote
            eng.handlers[Command.HA_DEMOTE] = self._ha_demote
            eng.on_applied = self._on_applied
        return eng

    def _on_applied(self, req: Request, reply: Reply) -> None:
        self._dirty_ids.append(req.id)
        self._state_dirty = True

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
        self.link.send(b"H", heartbeat_head(self.ha, self.instance, epoch, last), wait=False)

    def _serve_peer(self) -> None:
        link = self.link
        assert link is not None
        for _ in range(MAX_CONTROL_PER_TURN):
            got = link.recv_dealer()
            if got is None:
                break
            self._on_peer_reply(*got)
        for _ in range(MAX_CONTROL_PER_TURN):
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
                "counters": self.engine.counters(), **state_message(self.engine.state, self._dirty_ids)}
        self._dirty_ids = []
        self._state_dirty = False
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
        self.link.reply(rid, b"A", {"epoch": epoch, "last_seq": self.eventlog.last_seq})

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


def _int_in(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _best_effort_id(body: bytes) -> str:
    try:
        obj = orjson.loads(body)
    except Exception:
        return ""
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and len(rid) <= 128 else ""


