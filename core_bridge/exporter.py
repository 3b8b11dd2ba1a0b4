"""Prometheus exporter for one core (`corectl exporter`): a custom collector over a `TelemetryModel`.

Every metric is named `colo_core_*` and carries a `node` label (primary/standby) once the node is known:
given to `Exporter(node=...)`, else the name the core reports in its status/heartbeat. Prometheus also puts
the node on each target (infra/prometheus/prometheus.yml, `honor_labels: true`), so `up` has it and a series
scraped before the core was ever reached still gets one.

Types follow what the figures are (see `METRICS`, the catalogue the dashboards and rules are checked against):

- counters (`*_total`): the core's cumulative telemetry (rejects by reason, auth failures, orders accepted)
  exposed as CounterMetricFamily, so rate()/increase() apply and resets (core restarts) are handled;
- histogram: risk-gate latency in seconds, rebuilt from the core's percentile windows (core_bridge.metrics);
- enum gauge: `colo_core_trading_state{scope,key,state}` is 1 for the current level and 0 for the others,
  `state="UNKNOWN"` when the level is not known or not a level name;
- clock offset: the last heartbeat's `clock_offset_ns` and the largest magnitude over the last minute, so the
  ClockOffset* alerts see a breach shorter than the scrape interval;
- heartbeat staleness is never NaN: `colo_core_heartbeat_received` 0/1, the last heartbeat's timestamp
  (0 when none) and its age computed at scrape time (since the exporter started when there was none), so
  "stale", "never heard" and "exporter down" (`up == 0`) all make CoreHeartbeatStale fire.

An unknown gauge is left out of the scrape (absent), never exported as NaN.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core_bridge.protocol import KillLevel
from core_bridge.telemetry import TelemetryModel, TelemetrySubscriber, observe_capture, read_capture_status

GAUGE, COUNTER, HISTOGRAM = "gauge", "counter", "histogram"
STATES: tuple[str, ...] = (*(lv.name for lv in sorted(KillLevel)), "UNKNOWN")


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exposed: counters end in _total
    type: str
    help: str
    labels: tuple[str, ...] = ()  # besides `node`

    def series(self) -> tuple[str, ...]:
        """The sample names Prometheus stores for this metric."""
        if self.type == HISTOGRAM:
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("colo_core_heartbeat_received", GAUGE,
               "1 once a heartbeat from the core has arrived since the exporter started, 0 while none has"),
    MetricSpec("colo_core_last_heartbeat_timestamp_seconds", GAUGE,
               "Unix time of the last heartbeat (the core's clock when it sends one); 0 when none has arrived"),
    MetricSpec("colo_core_heartbeat_age_seconds", GAUGE,
               "Age of the last heartbeat at scrape time; with none yet, the time since the exporter started"),
    MetricSpec("colo_core_control_up", GAUGE, "1 if the core acked the exporter's last status request, else 0"),
    MetricSpec("colo_core_trading_state", GAUGE,
               "Kill level per scope as an enum: 1 for the current state, 0 for the others (key empty for firm)",
               ("scope", "key", "state")),
    MetricSpec("colo_core_orders_total", COUNTER,
               "Orders accepted by the risk gate (estimated from orders_per_s when the core gives no count)"),
    MetricSpec("colo_core_rejects_total", COUNTER, "Risk-gate rejects since the core started, by reason",
               ("reason",)),
    MetricSpec("colo_core_auth_failures_total", COUNTER,
               "CURVE handshakes refused: side=core as the core counts them, side=client by the exporter's client",
               ("side",)),
    MetricSpec("colo_core_telemetry_malformed_total", COUNTER, "Telemetry frames dropped as malformed"),
    MetricSpec("colo_core_gate_latency_seconds", HISTOGRAM,
               "Risk-gate latency, from the core's per-second percentiles (each sample at the percentile above it)"),
    MetricSpec("colo_core_exposure_dollars", GAUGE, "Exposure by account and kind (gross/net)", ("account", "kind")),
    MetricSpec("colo_core_capture_lag_events", GAUGE, "Sequenced events the drop-copy journal does not hold yet"),
    MetricSpec("colo_core_last_seq", GAUGE, "Last drop-copy sequence number of the core"),
    MetricSpec("colo_core_capture_rewind_failures_total", COUNTER,
               "Rewind attempts of the drop-copy capture that failed (timeout, refusal, gap the core cannot fill)"),
    MetricSpec("colo_core_capture_rewind_escalated", GAUGE,
               "1 while the capture's rewinds keep failing past its escalation threshold, else 0"),
    MetricSpec("colo_core_clock_offset_seconds", GAUGE,
               "Core clock minus its time source (PTP grandmaster), signed, from the last heartbeat"),
    MetricSpec("colo_core_clock_offset_max_abs_seconds", GAUGE,
               "Largest |clock offset| of the heartbeats of the last minute (a breach between scrapes shows)"),
)
SPECS: dict[str, MetricSpec] = {m.name: m for m in METRICS}


def series_names() -> set[str]:
    """Every sample name the exporter can serve (what a PromQL expression may select)."""
    return {s for m in METRICS for s in m.series()}


def _family(spec: MetricSpec, node: str | None) -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    labels = ([] if node is None else ["node"]) + list(spec.labels)
    kind = {GAUGE: GaugeMetricFamily, COUNTER: CounterMetricFamily, HISTOGRAM: HistogramMetricFamily}[spec.type]
    return kind(spec.name, spec.help, labels=labels)


class _Families:
    """Builds one scrape's families; `add(name, value, *labels)` puts the node label first when known."""

    def __init__(self, node: str | None) -> None:
        self.node = node
        self.out: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self.out:
            self.out[name] = _family(SPECS[name], self.node)
        return self.out[name]

    def _labels(self, labels: tuple[str, ...]) -> list[str]:
        return ([] if self.node is None else [self.node]) + list(labels)

    def add(self, name: str, value: float | None, *labels: str) -> None:
        fam = self.get(name)
        if value is not None:
            fam.add_metric(self._labels(labels), value)

    def histogram(self, name: str, buckets: list[tuple[float, int]], total: float) -> None:
        from prometheus_client.utils import floatToGoString

        self.get(name).add_metric(self._labels(()), [(floatToGoString(le), n) for le, n in buckets], total)


def _state_enum(fams: _Families, scope: str, key: str, level: str | None) -> None:
    current = level if level in STATES[:-1] else "UNKNOWN"
    for state in STATES:
        fams.add("colo_core_trading_state", 1.0 if state == current else 0.0, scope, key, state)


class Exporter:
    """Prometheus metrics for one core, refreshed from a TelemetryModel (`update`), served over HTTP (`serve`).

    `update` takes a snapshot of the model's figures (built in the caller's thread, swapped in whole); the
    heartbeat figures are computed at scrape time from the model's last heartbeat and `clock`, so they keep
    growing while the refresh loop waits on a core that does not answer.
    """

    def __init__(self, registry: Any = None, *, node: str | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry() if registry is None else registry
        self.node = node
        self._clock = clock
        self._started_ns = clock()
        self._model: TelemetryModel | None = None
        self._snapshot: dict[str, Any] = {}
        self.registry.register(self)

    # --- the collector protocol (prometheus_client calls these) ---
    def describe(self) -> Iterator[Any]:
        for spec in METRICS:
            yield _family(spec, self.node)

    def collect(self) -> Iterator[Any]:
        model, snapshot = self._model, self._snapshot
        node = self.node or (model.node if model is not None else None)
        live = _Families(node)
        self._heartbeat(live, model)
        for spec in METRICS:
            fam = live.out.get(spec.name) or snapshot.get(spec.name)
            yield fam if fam is not None else _family(spec, node)

    def _heartbeat(self, fams: _Families, model: TelemetryModel | None) -> None:
        hb, at_ns = (model.heartbeat, model.heartbeat_at_ns) if model is not None else (None, None)
        now = self._clock()
        if hb is None or at_ns is None:
            fams.add("colo_core_heartbeat_received", 0.0)
            fams.add("colo_core_last_heartbeat_timestamp_seconds", 0.0)
            fams.add("colo_core_heartbeat_age_seconds", max(0, now - self._started_ns) / 1e9)
            return
        sent = hb.get("ts_ns") if hb.get("ts_ns") is not None else hb.get("core_time_ns")
        ref = int(sent) if isinstance(sent, int) and not isinstance(sent, bool) else at_ns
        fams.add("colo_core_heartbeat_received", 1.0)
        fams.add("colo_core_last_heartbeat_timestamp_seconds", ref / 1e9)
        fams.add("colo_core_heartbeat_age_seconds", max(0, now - ref) / 1e9)

    # --- refresh ---
    def update(self, model: TelemetryModel) -> None:
        fams = _Families(self.node or model.node)
        if model.control_ok is not None:
            fams.add("colo_core_control_up", 1.0 if model.control_ok else 0.0)
        kill = model.kill
        _state_enum(fams, "firm", "", model.trading_state or (str(kill["firm"]) if "firm" in kill else None))
        for scope, key, level in model.kill_levels():
            if scope != "firm":
                _state_enum(fams, scope, key or "", level)
        totals = model.totals
        fams.add("colo_core_orders_total", totals.orders)
        for reason, n in sorted(model.rejects_by_reason.items()):
            fams.add("colo_core_rejects_total", float(n), reason)
        core_fail = model.core_auth_failures
        fams.add("colo_core_auth_failures_total", None if core_fail is None else float(core_fail), "core")
        fams.add("colo_core_auth_failures_total", float(model.client_auth_failures), "client")
        fams.add("colo_core_telemetry_malformed_total", float(model.telemetry_malformed))
        if totals.gate_count:
            fams.histogram("colo_core_gate_latency_seconds", totals.gate_buckets(), totals.gate_sum_s)
        for account, figures in model.exposure.items():
            for kind, value in figures.items():
                try:  # a gauge is a float by nature; the records of value stay exact elsewhere
                    fams.add("colo_core_exposure_dollars", float(value), account, kind)
                except ValueError:
                    continue
        lag, seq = model.capture_lag, model.last_seq
        fams.add("colo_core_capture_lag_events", None if lag is None else float(lag))
        fams.add("colo_core_last_seq", None if seq is None else float(seq))
        failures, escalated = model.capture_rewind_failures, model.capture_rewind_escalated
        fams.add("colo_core_capture_rewind_failures_total", None if failures is None else float(failures))
        fams.add("colo_core_capture_rewind_escalated", None if escalated is None else float(escalated))
        off, worst = model.clock_offset_ns, model.clock_offset_max_abs_ns
        fams.add("colo_core_clock_offset_seconds", None if off is None else off / 1e9)
        fams.add("colo_core_clock_offset_max_abs_seconds", None if worst is None else worst / 1e9)
        self._model, self._snapshot = model, fams.out

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def serve(self, port: int, addr: str = "127.0.0.1") -> Any:
        """Start the HTTP endpoint in a daemon thread; returns the server (call .shutdown() to stop)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server


def run_exporter(
    client: Any,
    sub: TelemetrySubscriber,
    exporter: Exporter,
    *,
    interval_s: float = 1.0,
    capture_status: Path | None = None,
    cycles: int | None = None,
    stop: Any = None,
    model: TelemetryModel | None = None,
) -> TelemetryModel:
    """Refresh the exporter every interval: one `status` ack, the telemetry received meanwhile, the capture
    status. A failed status leaves the last known figures and sets `colo_core_control_up` 0; it never stops
    the loop (a dashboard must keep showing that the core went quiet: heartbeat age keeps growing)."""
    from core_bridge.errors import BridgeError

    model = model if model is not None else TelemetryModel()
    exporter._model = model  # heartbeat figures are live from the first telemetry on, before the first update
    n = 0
    while (cycles is None or n < cycles) and not (stop is not None and stop.is_set()):
        try:
            model.observe_status(client.status().result)
            model.control_ok = True
        except BridgeError:
            model.control_ok = False
        model.client_auth_failures = client.auth_failures
        deadline = time.monotonic() + interval_s
        while (remaining := (deadline - time.monotonic()) * 1000) > 0:
            if stop is not None and stop.is_set():
                break
            got = sub.recv(min(remaining, 200.0))
            if got is not None:
                model.observe(*got)
        model.telemetry_malformed = sub.malformed
        if capture_status is not None:
            observe_capture(model, read_capture_status(capture_status))
        exporter.update(model)
        n += 1
    return model
