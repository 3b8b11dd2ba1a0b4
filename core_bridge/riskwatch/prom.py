"""The watcher's Prometheus metrics, named `colo_riskwatch_*`, in the exporter's conventions.

Why a collector over the status document rather than live metric objects: the status file, `--json` and
the scrape then always say the same thing. Counters end in `_total`; the rule state is an enum gauge (1 for
the current state, 0 for the others) like `colo_core_trading_state`; an unknown figure is left out, never NaN.
prometheus_client is imported only when the metrics are served (`serve`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from core_bridge.exporter import COUNTER, GAUGE, MetricSpec

RULE_STATES = ("armed", "confirming", "cooling_down", "tripped")

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("colo_riskwatch_trips_total", COUNTER, "Trips the watcher sent, by rule and scope",
               ("rule", "scope", "key")),
    MetricSpec("colo_riskwatch_trip_failures_total", COUNTER,
               "Trips the core did not ack (kept and re-sent with the same idempotency key), by rule", ("rule",)),
    MetricSpec("colo_riskwatch_rule_state", GAUGE, "State of each rule and key as an enum (1 current, 0 others)",
               ("rule", "key", "state")),
    MetricSpec("colo_riskwatch_core_up", GAUGE, "1 while the core acks the watcher's status requests, else 0"),
    MetricSpec("colo_riskwatch_telemetry_stale", GAUGE,
               "1 while no heartbeat came for longer than telemetry_max_age_s (the fail-safe alert), else 0"),
    MetricSpec("colo_riskwatch_heartbeat_age_seconds", GAUGE, "Age of each node's last heartbeat", ("node",)),
    MetricSpec("colo_riskwatch_rules_loaded", GAUGE, "Rules in force"),
    MetricSpec("colo_riskwatch_rules_reload_failures_total", COUNTER,
               "Reloads of the trips file refused (the previous rules stayed in force)"),
    MetricSpec("colo_riskwatch_pnl_dollars", GAUGE, "P&L since the watcher started by account (firm: all)",
               ("account", "kind")),
    MetricSpec("colo_riskwatch_exposure_dollars", GAUGE, "Exposure at the marks by account (firm: all)",
               ("account", "kind")),
    MetricSpec("colo_riskwatch_events_total", COUNTER, "Drop-copy events the watcher folded in"),
    MetricSpec("colo_riskwatch_webhook_failures_total", COUNTER, "Trip notifications the webhook did not accept"),
    MetricSpec("colo_riskwatch_flattens_total", COUNTER,
               "FLATTEN trips that ended, by rule and outcome (flat, partial, failed)", ("rule", "outcome")),
)


def _float(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class RiskwatchCollector:
    """Builds every family from `status()` (the watcher's status document) at scrape time."""

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        self._status = status

    def describe(self) -> Iterator[Any]:
        for spec in METRICS:
            yield _family(spec)

    def collect(self) -> Iterator[Any]:
        doc = self._status()
        fams = {spec.name: _family(spec) for spec in METRICS}

        def add(name: str, value: float | None, *labels: str) -> None:
            if value is not None:
                fams[name].add_metric(list(labels), value)

        for t in doc.get("trips_by_rule", []):
            add("colo_riskwatch_trips_total", float(t["count"]), t["rule"], t["scope"], str(t.get("key") or ""))
        for rule, n in sorted(doc.get("trip_failures_by_rule", {}).items()):
            add("colo_riskwatch_trip_failures_total", float(n), rule)
        for st in doc.get("rules_state", []):
            for state in RULE_STATES:
                add("colo_riskwatch_rule_state", 1.0 if st.get("state") == state else 0.0, st["rule"],
                    str(st.get("key") or ""), state)
        core_up = doc.get("core", {}).get("reachable")
        add("colo_riskwatch_core_up", None if core_up is None else float(bool(core_up)))
        add("colo_riskwatch_telemetry_stale", float(doc.get("failsafe") == "telemetry_stale"))
        figures = doc.get("figures", {})
        for node, age in sorted(figures.get("heartbeat_age_s", {}).items()):
            add("colo_riskwatch_heartbeat_age_seconds", _float(age), node)
        add("colo_riskwatch_rules_loaded", float(len(doc.get("rules", []))))
        add("colo_riskwatch_rules_reload_failures_total", float(doc.get("rules_reload_failures", 0)))
        books = [("firm", figures.get("firm", {}))] + sorted(figures.get("accounts", {}).items())
        for account, fig in books:
            for kind in ("realized", "unrealized"):
                add("colo_riskwatch_pnl_dollars", _float(fig.get(f"{kind}_pnl")), account, kind)
            for kind in ("gross", "net"):
                add("colo_riskwatch_exposure_dollars", _float(fig.get(f"{kind}_exposure")), account, kind)
        add("colo_riskwatch_events_total", _float(figures.get("events")))
        add("colo_riskwatch_webhook_failures_total", float(doc.get("webhook", {}).get("failures", 0)))
        for f in (doc.get("flattens") or {}).get("by_outcome", []):
            add("colo_riskwatch_flattens_total", float(f["count"]), f["rule"], f["outcome"])
        yield from fams.values()


def _family(spec: MetricSpec) -> Any:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    kind = {GAUGE: GaugeMetricFamily, COUNTER: CounterMetricFamily}[spec.type]
    return kind(spec.name, spec.help, labels=list(spec.labels))


def serve(status: Callable[[], dict[str, Any]], port: int, addr: str = "127.0.0.1") -> tuple[Any, Any]:
    """Serve /metrics in a daemon thread; returns (server, registry). Call server.shutdown() to stop."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(RiskwatchCollector(status))  # type: ignore[arg-type]
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server, registry
