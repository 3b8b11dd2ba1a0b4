"""TwinCore: the twin's sockets and main loop around `engine.CoreEngine`.

One poll loop (like the real core's control thread): control ROUTER, rewind ROUTER, telemetry PUB and
drop-copy PUB, all CURVE servers authenticated by ZAP against roles.json, plus the group commit's wake-up
pipe (its flusher thread writes and fdatasyncs the state log, groupcommit.py). Each loop turn: acks the
group commit made durable (`_on_durable`), control requests (each reply is sent after its events are
journaled and published: at once for a tightening control, once durable otherwise), rewind requests
(served in chunks, a few per turn, so the loop never stalls), temporary limit reverts, simulated flow,
stream batches, heartbeats (100 ms) and health (1 s).

This module creates the sockets and runs the loop; what each turn calls lives in one mixin per concern:
    sockets.py      SocketServices     control requests, rewind, telemetry
    ha_wiring.py    HaWiring           engine wiring, passive gate, peer link, takeover, replicate-then-publish
    sim_command.py  SimCommand         the twin-only `sim` command (flow, end of day, stream bursts)
    persistence.py  PersistenceWiring  state recovery at start, persist after each command, endpoint file
Command dispatch is the engine's `handlers` table; the twin-only `sim` command is registered by
`HaWiring._make_engine`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import zmq

from core_bridge.auth import (
    KeyRegistry,
    ServerAuth,
    client_keypair,
    configure_server,
    generate_keyset,
    server_keypair,
)
from core_bridge.protocol import Role
from hw.twin.ha import DEFAULT_HEARTBEAT_MS, HaNode
from hw.twin.persistence import endpoint_file, read_endpoint_file
from hw.twin.replication import PEER_IDENTITY, PeerLink, ReplicaState, WorkingOrders
from hw.twin.sockets import SocketServices
from hw.twin.stream import SyntheticStream

log = logging.getLogger("hw.twin")

HEARTBEAT_NS = 100_000_000
HEALTH_NS = 1_000_000_000


class TwinCore(SocketServices):
    """A running twin node. `serve_forever()` runs the loop until `request_stop()` (or SIGTERM)."""

    def __init__(self, home: Path, node: str, endpoints: dict[str, str], *, keys_dir: Path | None = None,
                 state_dir: Path | None = None, flow_rate: int = 0, seed: int = 1, ha_endpoint: str | None = None,
                 peer_endpoint: str | None = None, heartbeat_ms: int = DEFAULT_HEARTBEAT_MS) -> None:
        self.home = home
        # Binary Star pair wiring (hw.twin.ha, hw.twin.replication); None: a single always-active node.
        self.ha_endpoint = ha_endpoint
        self.peer_endpoint = peer_endpoint
        self.heartbeat_ms = heartbeat_ms
        self.link = None
        self.replica = ReplicaState()
        self.working = WorkingOrders()
        self._dirty_ids = []
        self._state_dirty = False
        self._sync_next = False
        self._applied_now = None
        self._not_durable = {}
        self._held = []
        self._persist_deferred = False
        self._persist_due = False
        self._followups = []
        self.peer_next = None
        self._resync = False
        self.node = node
        self.endpoints = dict(endpoints)
        self.keys_dir = keys_dir or home / "keys"
        self.state_dir = state_dir or home / "twin" / node
        self.seed = seed
        self._stop = False
        self._flow = None
        self._flow_rate = 0
        self._flow_t0 = 0
        self._flow_done = 0
        self._rewinds = deque()
        self._stream_job = None
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
        state = self._recover_state()
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
        self.poller.register(self.commit.notify_fd, zmq.POLLIN)
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

    def close(self) -> None:
        try:
            if self.ha.is_active():  # a passive's state is the replica; its engine's books are not live
                self._flush_events()
                self.engine.sync_positions()
            self._close_state()  # flush, snapshot, then the clean-shutdown marker
            self._on_durable()  # acks still held go out (best effort: the sockets close next)
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
                    timeout_ms = min(timeout_ms, 1) if self._stream_job.rate else 0  # paced: no busy spin
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
                if self.commit.notify_fd in ready:
                    self._on_durable()
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
