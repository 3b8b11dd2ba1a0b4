"""Telemetry: the core's heartbeat/health feed, a model of what it says, and a Prometheus exporter.

The core publishes on its telemetry PUB socket (CURVE) two-frame messages `[topic, JSON]`:

    hb       heartbeat, at a fixed short interval: {ts_ns, node, ...}
    health   health summary: counters and gauges (orders/s, rejects by reason, exposure, latency, ...)
    pos      positions (not used here)

`TelemetryModel` folds heartbeats, health messages and `status` acks into one view used by `corectl watch`
and the exporter. Field names are read defensively (`_pick`) because health is a summary for humans and
dashboards, not a contract: an absent figure shows as unknown, never as zero (fail closed: a missing
heartbeat is "no heartbeat", not "fresh").

Import cost: zmq + orjson only; prometheus_client is imported inside `Exporter`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zmq

from core_bridge.protocol import TELEMETRY_TOPIC_HEALTH, TELEMETRY_TOPIC_HEARTBEAT, KillLevel


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
    client_auth_failures: int = 0

    def observe(self, topic: bytes, doc: dict[str, Any], at_ns: int) -> None:
        if topic == TELEMETRY_TOPIC_HEARTBEAT:
            self.heartbeat, self.heartbeat_at_ns = doc, at_ns
        elif topic == TELEMETRY_TOPIC_HEALTH:
            self.health, self.health_at_ns = doc, at_ns

    def observe_status(self, result: dict[str, Any], at_ns: int | None = None) -> None:
        self.status, self.status_at_ns = dict(result), at_ns or time.time_ns()

    # --- derived figures (None = unknown) ---
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


class Exporter:
    """Prometheus metrics for one core, refreshed from a TelemetryModel (`update`), served over HTTP.

    Metric names carry the `colo_core_` prefix; kill levels are numbers (0 ACTIVE .. 3 HALTED, -1 unknown
    text) so alerts can say "firm level > 0".
    """

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.trading_state = Gauge("colo_core_trading_state", "Firm kill level (0 ACTIVE .. 3 HALTED)", registry=r)
        self.kill_level = Gauge("colo_core_kill_level", "Kill level per scope", ["scope", "key"], registry=r)
        self.hb_age = Gauge("colo_core_heartbeat_age_seconds", "Age of the last heartbeat (NaN: none)", registry=r)
        self.orders = Gauge("colo_core_orders_per_second", "Orders per second through the risk gate", registry=r)
        self.rejects = Gauge("colo_core_rejects", "Risk-gate rejects so far today by reason", ["reason"], registry=r)
        self.exposure = Gauge("colo_core_exposure_dollars", "Exposure by account and kind (gross/net)",
                              ["account", "kind"], registry=r)
        self.latency = Gauge("colo_core_latency_seconds", "Latency percentiles", ["quantile"], registry=r)
        self.capture_lag = Gauge("colo_core_capture_lag_events", "Sequenced events not yet journaled", registry=r)
        self.auth_failures = Gauge("colo_core_auth_failures", "CURVE auth failures seen", ["side"], registry=r)
        self.last_seq = Gauge("colo_core_last_seq", "Last drop-copy sequence number of the core", registry=r)

    def update(self, model: TelemetryModel, now_ns: int | None = None) -> None:
        nan = float("nan")
        ts = level_value(model.trading_state)
        self.trading_state.set(nan if ts is None else ts)
        self.kill_level.clear()
        for scope, key, level in model.kill_levels():
            lv = level_value(level)
            self.kill_level.labels(scope, key or "").set(nan if lv is None else lv)
        age = model.heartbeat_age_ms(now_ns)
        self.hb_age.set(nan if age is None else age / 1000)
        ops = model.orders_per_sec
        self.orders.set(nan if ops is None else ops)
        self.rejects.clear()
        for reason, n in model.rejects_by_reason.items():
            self.rejects.labels(reason).set(n)
        self.exposure.clear()
        for account, figures in model.exposure.items():
            for kind, value in figures.items():
                try:  # a gauge is a float by nature; the records of value stay exact elsewhere
                    self.exposure.labels(account, kind).set(float(value))
                except ValueError:
                    continue
        self.latency.clear()
        for q, us in model.latency_us.items():
            self.latency.labels(q).set(us / 1e6)
        lag = model.capture_lag
        self.capture_lag.set(nan if lag is None else lag)
        core_fail = model.core_auth_failures
        self.auth_failures.labels("core").set(nan if core_fail is None else core_fail)
        self.auth_failures.labels("client").set(model.client_auth_failures)
        seq = model.last_seq
        self.last_seq.set(nan if seq is None else seq)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def serve(self, port: int, addr: str = "127.0.0.1") -> Any:
        """Start the HTTP endpoint in a daemon thread; returns the server (call .shutdown() to stop)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server


def read_capture_status(path: Path) -> dict[str, Any] | None:
    """The drop-copy capture's status file (<home>/run/capture.json), or None when absent/unreadable."""
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def observe_capture(model: TelemetryModel, capture: dict[str, Any] | None) -> None:
    """Take the journal's durable seq from the capture status, if it is for the core's current epoch."""
    durable = capture.get("durable") if capture else None
    if not isinstance(durable, dict):
        model.captured_seq = None
        return
    epoch = _pick(model.status, "epoch") or _pick(model.heartbeat or {}, "epoch")
    same_epoch = epoch is None or durable.get("epoch") == epoch
    seq = durable.get("seq")
    model.captured_seq = int(seq) if same_epoch and isinstance(seq, int) else None


def run_exporter(
    client: Any,
    sub: TelemetrySubscriber,
    exporter: Exporter,
    *,
    interval_s: float = 1.0,
    capture_status: Path | None = None,
    cycles: int | None = None,
    stop: Any = None,
) -> TelemetryModel:
    """Refresh the exporter every interval: one `status` ack, the telemetry received meanwhile, the capture
    status. A failed status leaves the last known figures and is counted by the client; it never stops the
    loop (a dashboard must keep showing that the core went quiet: heartbeat age keeps growing)."""
    from core_bridge.errors import BridgeError

    model = TelemetryModel()
    n = 0
    while (cycles is None or n < cycles) and not (stop is not None and stop.is_set()):
        try:
            model.observe_status(client.status().result)
        except BridgeError:
            pass
        model.client_auth_failures = client.auth_failures
        deadline = time.monotonic() + interval_s
        while (remaining := (deadline - time.monotonic()) * 1000) > 0:
            got = sub.recv(remaining)
            if got is not None:
                model.observe(*got)
        if capture_status is not None:
            observe_capture(model, read_capture_status(capture_status))
        exporter.update(model)
        n += 1
    return model
