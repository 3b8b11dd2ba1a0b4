"""Telemetry: the core's heartbeat/health feed and a model of what it says (the exporter: core_bridge.exporter).

The core publishes on its telemetry PUB socket (CURVE) two-frame messages `[topic, JSON]`:

    hb       heartbeat, at a fixed short interval: {ts_ns, node, ...}
    health   health summary: counters and gauges (orders/s, rejects by reason, exposure, latency, ...)
    pos      positions (not used here)

`TelemetryModel` folds heartbeats, health messages and `status` acks into one view used by `corectl watch`
and the exporter. Field names are read defensively (`_pick`) because health is a summary for humans and
dashboards, not a contract: an absent figure shows as unknown, never as zero (fail closed: a missing
heartbeat is "no heartbeat", not "fresh").

`HealthTotals` (core_bridge.metrics; the model's `totals`) folds every health message once, as it arrives,
into cumulative figures a Prometheus counter or histogram can carry: orders accepted, gate latency buckets.

The Prometheus exporter itself (`Exporter`, `run_exporter`) lives in `core_bridge.exporter`; the two names
are still importable from here (loaded on first use).

Import cost: zmq + orjson only; prometheus_client is imported by `core_bridge.exporter` only.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zmq

from core_bridge.metrics import HealthTotals
from core_bridge.protocol import TELEMETRY_TOPIC_HEALTH, TELEMETRY_TOPIC_HEARTBEAT, KillLevel

CLOCK_WINDOW_NS = 60_000_000_000  # the exporter's max-offset window


def __getattr__(name: str) -> Any:
    """`Exporter` and `run_exporter` moved to core_bridge.exporter (import them from there); still served
    from here, loaded on first use, so that importing this module does not pull in prometheus_client."""
    if name in ("Exporter", "run_exporter"):
        from core_bridge import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _pick(doc: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if n in doc and doc[n] is not None:
            return doc[n]
    return None


def telemetry_endpoint_for(control_endpoint: str) -> str:
    """The telemetry endpoint beside a control endpoint by the default port layout (control + 1)."""
    head, _, port = control_endpoint.rpartition(":")
    if not port.isdigit() or not head:
        raise ValueError(f"cannot derive a telemetry endpoint from {control_endpoint!r}; pass it explicitly")
    return f"{head}:{int(port) + 1}"


class TelemetrySubscriber:
    """A CURVE SUB socket on the core's telemetry feed (heartbeat + health topics)."""

    def __init__(
        self,
        endpoint: str,
        keys_dir: Path,
        identity: str,
        *,
        topics: tuple[bytes, ...] = (TELEMETRY_TOPIC_HEARTBEAT, TELEMETRY_TOPIC_HEALTH),
        context: zmq.Context | None = None,
    ) -> None:
        from core_bridge.client import read_curve_key

        public, secret = read_curve_key(keys_dir / "clients" / f"{identity}.key_secret")
        server, _ = read_curve_key(keys_dir / "core.key")
        self.endpoint = endpoint
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.curve_publickey = public
        self._sock.curve_secretkey = secret or b""
        self._sock.curve_serverkey = server
        for t in topics:
            self._sock.setsockopt(zmq.SUBSCRIBE, t)
        self._sock.connect(endpoint)
        self.malformed = 0

    def recv(self, timeout_ms: float) -> tuple[bytes, dict[str, Any], int] | None:
        """Next (topic, payload, local receive ns) within the timeout, or None. Malformed messages are
        counted and skipped: a bad frame never stops the feed."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._sock.poll(max(1, int(remaining * 1000))):
                return None
            frames = self._sock.recv_multipart()
            now = time.time_ns()
            if len(frames) != 2:
                self.malformed += 1
                continue
            try:
                doc = orjson.loads(frames[1])
            except orjson.JSONDecodeError:
                self.malformed += 1
                continue
            if not isinstance(doc, dict):
                self.malformed += 1
                continue
            return frames[0], doc, now

    def connect(self, endpoint: str) -> None:
        """Also listen to another core (the other node of an HA pair)."""
        self._sock.connect(endpoint)

    def wait_heartbeat(self, timeout_ms: float) -> tuple[dict[str, Any], int] | None:
        deadline = time.monotonic() + timeout_ms / 1000
        while (remaining := (deadline - time.monotonic()) * 1000) > 0:
            got = self.recv(remaining)
            if got is None:
                return None
            if got[0] == TELEMETRY_TOPIC_HEARTBEAT:
                return got[1], got[2]
        return None

    def close(self) -> None:
        self._sock.close(linger=0)
        if self._own_ctx:
            self._ctx.term()


def heartbeat_age_ms(hb: Mapping[str, Any] | None, received_ns: int | None, now_ns: int | None = None) -> float | None:
    """How old the core's last heartbeat is now: by the core's timestamp when it has one, else since receipt."""
    if hb is None or received_ns is None:
        return None
    now = now_ns if now_ns is not None else time.time_ns()
    sent = _pick(hb, "ts_ns", "core_time_ns")
    ref = int(sent) if isinstance(sent, int) and not isinstance(sent, bool) else received_ns
    return round(max(0, now - ref) / 1e6, 3)


@dataclass
class TelemetryModel:
    """Latest known state of one core, from status acks, heartbeats and health messages."""

    status: dict[str, Any] = field(default_factory=dict)
    status_at_ns: int | None = None
    heartbeat: dict[str, Any] | None = None
    heartbeat_at_ns: int | None = None
    health: dict[str, Any] = field(default_factory=dict)
    health_at_ns: int | None = None
    captured_seq: int | None = None  # last seq the bridge's journal holds, when a capture reports it
    capture_rewind_failures: int | None = None  # failed rewinds since the capture started (its capture.json)
    capture_rewind_escalated: bool | None = None  # the capture's rewinds kept failing and it escalated
    client_auth_failures: int = 0
    control_ok: bool | None = None  # did the last `status` request get an ack (None: not asked yet)
    telemetry_malformed: int = 0  # telemetry frames the subscriber dropped as malformed
    totals: HealthTotals = field(default_factory=HealthTotals)
    # (received ns, |clock_offset_ns|) of the last CLOCK_WINDOW_NS of heartbeats: a breach shorter than a
    # scrape interval still shows in the window's maximum
    clock_readings: deque[tuple[int, int]] = field(default_factory=deque)

    def observe(self, topic: bytes, doc: dict[str, Any], at_ns: int) -> None:
        if topic == TELEMETRY_TOPIC_HEARTBEAT:
            self.heartbeat, self.heartbeat_at_ns = doc, at_ns
            off = doc.get("clock_offset_ns")
            if isinstance(off, int) and not isinstance(off, bool):
                self.clock_readings.append((at_ns, abs(off)))
                while self.clock_readings and at_ns - self.clock_readings[0][0] > CLOCK_WINDOW_NS:
                    self.clock_readings.popleft()
        elif topic == TELEMETRY_TOPIC_HEALTH:
            self.health, self.health_at_ns = doc, at_ns
            self.totals.fold(doc, at_ns)

    def observe_status(self, result: dict[str, Any], at_ns: int | None = None) -> None:
        self.status, self.status_at_ns = dict(result), at_ns or time.time_ns()

    # --- derived figures (None = unknown) ---
    @property
    def clock_offset_ns(self) -> int | None:
        """The core clock minus its time source, as its last heartbeat said (None: not reported)."""
        off = (self.heartbeat or {}).get("clock_offset_ns")
        return off if isinstance(off, int) and not isinstance(off, bool) else None

    @property
    def clock_offset_max_abs_ns(self) -> int | None:
        """The largest |offset| of the heartbeats of the last CLOCK_WINDOW_NS (None: none reported one)."""
        return max((a for _, a in self.clock_readings), default=None)

    def heartbeat_age_ms(self, now_ns: int | None = None) -> float | None:
        return heartbeat_age_ms(self.heartbeat, self.heartbeat_at_ns, now_ns)

    @property
    def trading_state(self) -> str | None:
        v = _pick(self.status, "trading_state") or _pick(self.heartbeat or {}, "trading_state")
        return str(v) if v is not None else None

    @property
    def kill(self) -> dict[str, Any]:
        v = _pick(self.status, "kill")
        return dict(v) if isinstance(v, dict) else {}

    @property
    def last_seq(self) -> int | None:
        v = _pick(self.status, "last_seq")
        hb = _pick(self.heartbeat or {}, "last_seq", "seq")
        candidates = [int(x) for x in (v, hb) if isinstance(x, int)]
        return max(candidates) if candidates else None

    @property
    def orders_per_sec(self) -> float | None:
        v = _pick(self.health, "orders_per_s", "orders_per_sec", "order_rate")
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    @property
    def rejects_by_reason(self) -> dict[str, int]:
        v = _pick(self.health, "rejects_by_reason", "rejects")
        return {str(k): int(n) for k, n in v.items() if isinstance(n, int)} if isinstance(v, dict) else {}

    @property
    def exposure(self) -> dict[str, dict[str, str]]:
        """account -> {gross, net} as exact decimal text, plus a "firm" total when the core gives accounts."""
        from decimal import Decimal, InvalidOperation

        v = _pick(self.health, "exposure")
        out: dict[str, dict[str, str]] = {}
        if isinstance(v, dict):
            for acct, fig in v.items():
                if isinstance(fig, dict):
                    out[str(acct)] = {str(k): str(x) for k, x in fig.items()}
        if out and "firm" not in out:
            tot = {"gross": Decimal(0), "net": Decimal(0)}
            try:
                for fig in out.values():
                    for k in tot:
                        tot[k] += Decimal(fig.get(k, "0"))
                out["firm"] = {k: format(x, "f") for k, x in tot.items()}
            except InvalidOperation:
                pass
        return out

    @property
    def latency_us(self) -> dict[str, float]:
        """Risk-gate latency percentiles in microseconds, keyed p50/p99/max (unknown ones left out)."""
        ns = _pick(self.health, "gate_latency_ns", "latency_ns")
        if isinstance(ns, dict):
            return {str(k): x / 1000 for k, x in ns.items()
                    if k != "samples" and isinstance(x, int | float) and not isinstance(x, bool)}
        us = _pick(self.health, "latency_us")
        if isinstance(us, dict):
            return {str(k): float(x) for k, x in us.items() if isinstance(x, int | float) and not isinstance(x, bool)}
        return {}

    @property
    def node(self) -> str | None:
        v = _pick(self.status, "node") or _pick(self.heartbeat or {}, "node") or _pick(self.health, "node")
        return str(v) if v is not None else None

    @property
    def core_auth_failures(self) -> int | None:
        v = _pick(self.health, "auth_failures")
        return int(v) if isinstance(v, int) else None

    @property
    def capture_lag(self) -> int | None:
        """Events the core has sequenced that the journal does not hold yet."""
        v = _pick(self.health, "capture_lag")
        if self.captured_seq is not None and self.last_seq is not None:
            return max(0, self.last_seq - self.captured_seq)
        return int(v) if isinstance(v, int) else None

    def kill_levels(self) -> list[tuple[str, str | None, str]]:
        """(scope, key, level) for the firm and every scope not ACTIVE, firm first."""
        out: list[tuple[str, str | None, str]] = []
        k = self.kill
        if "firm" in k:
            out.append(("firm", None, str(k["firm"])))
        for scope in ("account", "symbol", "venue"):
            for key, level in sorted((k.get(scope) or {}).items()):
                out.append((scope, str(key), str(level)))
        return out

    def to_json(self, now_ns: int | None = None) -> dict[str, Any]:
        return {
            "trading_state": self.trading_state,
            "kill": self.kill,
            "last_seq": self.last_seq,
            "heartbeat_age_ms": self.heartbeat_age_ms(now_ns),
            "orders_per_sec": self.orders_per_sec,
            "rejects_by_reason": self.rejects_by_reason,
            "exposure": self.exposure,
            "latency_us": self.latency_us,
            "capture_lag": self.capture_lag,
            "auth_failures": {"core": self.core_auth_failures, "client": self.client_auth_failures},
            "limits_version": _pick(self.status, "limits_version"),
            "node": _pick(self.status, "node") or _pick(self.heartbeat or {}, "node"),
            "role": _pick(self.status, "ha_role") or _pick(self.heartbeat or {}, "ha_role"),
        }


def level_value(name: str | None) -> int | None:
    """KillLevel number for a level name (-1 for unknown text, None for None)."""
    if name is None:
        return None
    try:
        return int(KillLevel[name])
    except KeyError:
        return -1


def read_capture_status(path: Path) -> dict[str, Any] | None:
    """The drop-copy capture's status file (<home>/run/capture.json), or None when absent/unreadable."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def observe_capture(model: TelemetryModel, capture: dict[str, Any] | None) -> None:
    """Take the journal's durable seq from the capture status, if it is for the core's current epoch, and
    the capture's rewind health (failures, escalated), so a capture stuck on a gap is visible in Prometheus."""
    rewind = capture.get("rewind") if capture else None
    if isinstance(rewind, dict):
        failures = rewind.get("failures_total")
        model.capture_rewind_failures = failures if isinstance(failures, int) else None
        model.capture_rewind_escalated = rewind.get("state") == "escalated"
    else:
        model.capture_rewind_failures = model.capture_rewind_escalated = None
    durable = capture.get("durable") if capture else None
    if not isinstance(durable, dict):
        model.captured_seq = None
        return
    epoch = _pick(model.status, "epoch") or _pick(model.heartbeat or {}, "epoch")
    same_epoch = epoch is None or durable.get("epoch") == epoch
    seq = durable.get("seq")
    model.captured_seq = int(seq) if same_epoch and isinstance(seq, int) else None
