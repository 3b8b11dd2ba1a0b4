"""The exporter's metrics, parsed as Prometheus parses them: types, names, values, and no NaN anywhere.

Counters carry the core's cumulative figures, latency is a histogram in seconds, trading state an enum gauge,
and the heartbeat series stay finite when nothing was heard, so CoreHeartbeatStale can fire.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core_bridge.errors import NoAckError
from core_bridge.exporter import COUNTER, GAUGE, HISTOGRAM, METRICS, Exporter, run_exporter, series_names
from core_bridge.metrics import GATE_LATENCY_BUCKETS_S, HealthTotals
from core_bridge.telemetry import TelemetryModel

NOW = 1_763_800_000_000_000_000
S = 1_000_000_000


def full_model() -> TelemetryModel:
    """A model where every figure is known: status, a heartbeat 40 ms old, two health messages 1 s apart."""
    m = TelemetryModel()
    m.observe_status({"trading_state": "CANCEL_ONLY", "ha_role": "active", "node": "primary", "last_seq": 120,
                      "kill": {"firm": "CANCEL_ONLY", "account": {"PROP02": "HALTED"}, "symbol": {"AAPL": "ODD"},
                               "venue": {}}})
    m.control_ok = True
    m.observe(b"hb", {"node": "primary", "last_seq": 120, "core_time_ns": NOW - 140_000_000,
                      "clock_offset_ns": -250_000}, NOW - 139_000_000)
    m.observe(b"hb", {"node": "primary", "last_seq": 125, "core_time_ns": NOW - 40_000_000,
                      "clock_offset_ns": 12_000}, NOW - 39_000_000)
    health = {"node": "primary", "orders_per_s": 800.0, "auth_failures": 2,
              "rejects": {"LIMIT_PRICE_COLLAR": 3, "KILL_CANCEL_ONLY": 9},
              "exposure": {"PROP01": {"gross": "1000.50", "net": "-200"}},
              "gate_latency_ns": {"p50": 1500, "p99": 4200, "max": 9000, "samples": 50}}
    m.observe(b"health", {**health, "core_time_ns": NOW - 2 * S}, NOW - 2 * S)
    m.observe(b"health", {**health, "orders_per_s": 812.5, "core_time_ns": NOW - S}, NOW - S)
    m.captured_seq = 100
    m.capture_rewind_failures, m.capture_rewind_escalated = 7, True
    m.client_auth_failures = 1
    m.telemetry_malformed = 4
    return m


def scrape(ex: Exporter) -> dict[str, Any]:
    """family name as Prometheus reports it -> family (counters lose their _total, as in the parser)."""
    return {f.name: f for f in text_string_to_metric_families(ex.render().decode())}


def samples(ex: Exporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(ex.render().decode()) for s in f.samples}


def value(ex: Exporter, name: str, **labels: str) -> float:
    return samples(ex)[(name, tuple(sorted(labels.items())))]


def _no_nan(ex: Exporter) -> None:
    bad = {k: v for k, v in samples(ex).items() if not math.isfinite(v)}
    assert bad == {}


def test_exporter_when_fully_fed_then_types_and_names_follow_prometheus_conventions() -> None:
    ex = Exporter(clock=lambda: NOW)
    ex.update(full_model())
    fams = scrape(ex)
    for spec in METRICS:
        name = spec.name.removesuffix("_total") if spec.type == COUNTER else spec.name
        assert fams[name].type == spec.type, spec.name
        got = {s.name for s in fams[name].samples}
        assert got == set(spec.series()), spec.name
        if spec.type == COUNTER:
            assert spec.name.endswith("_total")
        if spec.type == HISTOGRAM or "age" in spec.name or "timestamp" in spec.name:
            assert spec.name.endswith("_seconds")
    assert {s.name for f in fams.values() for s in f.samples} == series_names()
    _no_nan(ex)


def test_exporter_when_fully_fed_then_values_are_the_cores_figures() -> None:
    ex = Exporter(clock=lambda: NOW)
    ex.update(full_model())
    p = {"node": "primary"}
    assert value(ex, "colo_core_heartbeat_received", **p) == 1
    assert value(ex, "colo_core_heartbeat_age_seconds", **p) == pytest.approx(0.04)
    assert value(ex, "colo_core_last_heartbeat_timestamp_seconds", **p) == pytest.approx((NOW - 40_000_000) / 1e9)
    assert value(ex, "colo_core_control_up", **p) == 1
    firm = {s: value(ex, "colo_core_trading_state", **p, scope="firm", key="", state=s)
            for s in ("ACTIVE", "REDUCE_ONLY", "CANCEL_ONLY", "HALTED", "UNKNOWN")}
    assert firm == {"ACTIVE": 0, "REDUCE_ONLY": 0, "CANCEL_ONLY": 1, "HALTED": 0, "UNKNOWN": 0}
    assert value(ex, "colo_core_trading_state", **p, scope="account", key="PROP02", state="HALTED") == 1
    assert value(ex, "colo_core_trading_state", **p, scope="account", key="PROP02", state="ACTIVE") == 0
    assert value(ex, "colo_core_trading_state", **p, scope="symbol", key="AAPL", state="UNKNOWN") == 1  # not a level
    assert value(ex, "colo_core_orders_total", **p) == pytest.approx(812.5)  # 812.5/s over the 1 s between the two
    assert value(ex, "colo_core_rejects_total", **p, reason="KILL_CANCEL_ONLY") == 9
    assert value(ex, "colo_core_auth_failures_total", **p, side="core") == 2
    assert value(ex, "colo_core_auth_failures_total", **p, side="client") == 1
    assert value(ex, "colo_core_telemetry_malformed_total", **p) == 4
    assert value(ex, "colo_core_exposure_dollars", **p, account="firm", kind="net") == -200
    assert value(ex, "colo_core_capture_lag_events", **p) == 25
    assert value(ex, "colo_core_last_seq", **p) == 125
    assert value(ex, "colo_core_capture_rewind_failures_total", **p) == 7
    assert value(ex, "colo_core_capture_rewind_escalated", **p) == 1
    assert value(ex, "colo_core_clock_offset_seconds", **p) == pytest.approx(12e-6)
    assert value(ex, "colo_core_clock_offset_max_abs_seconds", **p) == pytest.approx(250e-6)  # the earlier breach
    # two windows of 50 samples: 26 at p50 (1.5 us), 23 at p99 (4.2 us), 1 at max (9 us) each
    h = "colo_core_gate_latency_seconds"
    assert value(ex, f"{h}_bucket", **p, le="1e-06") == 0
    assert value(ex, f"{h}_bucket", **p, le="2.5e-06") == 52
    assert value(ex, f"{h}_bucket", **p, le="5e-06") == 98
    assert value(ex, f"{h}_bucket", **p, le="1e-05") == 100
    assert value(ex, f"{h}_bucket", **p, le="+Inf") == 100
    assert value(ex, f"{h}_count", **p) == 100
    assert value(ex, f"{h}_sum", **p) == pytest.approx(2 * (26 * 1.5e-6 + 23 * 4.2e-6 + 9e-6))


def test_exporter_when_nothing_heard_then_staleness_series_are_finite_and_say_so() -> None:
    clock = [NOW]
    ex = Exporter(clock=lambda: clock[0], node="standby")
    assert value(ex, "colo_core_heartbeat_received", node="standby") == 0
    assert value(ex, "colo_core_last_heartbeat_timestamp_seconds", node="standby") == 0
    assert value(ex, "colo_core_heartbeat_age_seconds", node="standby") == 0
    clock[0] += 7 * S  # no update in between: the age is computed at scrape time
    assert value(ex, "colo_core_heartbeat_age_seconds", node="standby") == 7
    model = TelemetryModel()
    model.control_ok = False
    ex.update(model)
    assert value(ex, "colo_core_control_up", node="standby") == 0
    assert value(ex, "colo_core_trading_state", node="standby", scope="firm", key="", state="UNKNOWN") == 1
    assert value(ex, "colo_core_trading_state", node="standby", scope="firm", key="", state="HALTED") == 0
    names = {k[0] for k in samples(ex)}
    assert not names & {"colo_core_orders_total", "colo_core_capture_lag_events", "colo_core_last_seq",
                        "colo_core_gate_latency_seconds_count"}  # unknown: absent, never NaN
    _no_nan(ex)


def test_exporter_when_core_goes_quiet_then_age_keeps_growing_between_updates() -> None:
    clock = [NOW]
    ex = Exporter(clock=lambda: clock[0])
    model = full_model()
    ex.update(model)
    clock[0] += 30 * S
    assert value(ex, "colo_core_heartbeat_age_seconds", node="primary") == pytest.approx(30.04)
    assert value(ex, "colo_core_heartbeat_received", node="primary") == 1


def test_exporter_when_node_given_then_it_wins_and_without_any_node_the_label_is_left_to_prometheus() -> None:
    ex = Exporter(clock=lambda: NOW, node="standby")
    ex.update(full_model())
    assert {dict(k[1]).get("node") for k in samples(ex)} == {"standby"}
    bare = Exporter(clock=lambda: NOW)
    bare.update(TelemetryModel())
    assert all("node" not in dict(k[1]) for k in samples(bare))


def test_totals_when_core_sends_a_cumulative_count_then_it_is_the_counter() -> None:
    t = HealthTotals()
    t.fold({"orders_accepted": 10, "orders_per_s": 99.0, "core_time_ns": NOW}, NOW)
    t.fold({"orders_accepted": 25, "orders_per_s": 99.0, "core_time_ns": NOW + S}, NOW + S)
    assert (t.orders, t.orders_estimated) == (25.0, False)


def test_totals_when_only_a_rate_then_integrated_from_the_second_message_on() -> None:
    t = HealthTotals()
    t.fold({"orders_per_s": 50.0, "core_time_ns": NOW}, NOW)
    assert t.orders == 0.0 and t.orders_estimated
    t.fold({"orders_per_s": 20.0, "core_time_ns": NOW + 2 * S}, NOW + 2 * S)
    t.fold({"orders_per_s": 0.0, "core_time_ns": NOW + 3 * S}, NOW + 3 * S)
    assert t.orders == pytest.approx(40.0)
    assert HealthTotals().orders is None


def test_totals_when_latency_windows_arrive_then_each_is_spread_conservatively() -> None:
    t = HealthTotals()
    t.fold({"gate_latency_ns": {"p50": None, "p99": None, "max": None, "samples": 0}}, NOW)  # idle second
    t.fold({"gate_latency_ns": {"p50": 2000, "p99": 2000, "max": 2000, "samples": 3}}, NOW)  # all equal
    t.fold({"gate_latency_ns": {"p50": 800, "p99": 30_000, "samples": 1000}}, NOW)  # no max: tail above p99
    buckets = dict(t.gate_buckets())
    assert t.gate_count == 1003 and buckets[math.inf] == 1003
    assert buckets[0.5e-6] == 0
    assert buckets[1e-6] == 501  # int(0.5 * 1000) + 1 samples are at or below p50, counted at p50
    assert buckets[2.5e-6] == 504  # + the 3 equal samples
    assert buckets[25e-6] == 504
    assert buckets[50e-6] == 994  # + 490 up to int(0.99 * 1000) + 1, counted at p99
    assert buckets[GATE_LATENCY_BUCKETS_S[-1]] == 994  # the 9 above p99 are only known to be above it: +Inf
    assert t.gate_sum_s == pytest.approx(3 * 2e-6 + 501 * 0.8e-6 + 490 * 30e-6 + 9 * 30e-6)
    assert [n for _, n in t.gate_buckets()] == sorted(n for _, n in t.gate_buckets())  # cumulative


def test_exporter_when_two_health_messages_between_updates_then_both_are_counted() -> None:
    model = TelemetryModel()
    ex = Exporter(clock=lambda: NOW)
    window = {"p50": 1000, "p99": 1000, "max": 1000, "samples": 10}
    for i in range(2):
        model.observe(b"health", {"node": "primary", "gate_latency_ns": window, "core_time_ns": NOW + i}, NOW + i)
    ex.update(model)
    assert value(ex, "colo_core_gate_latency_seconds_count", node="primary") == 20


class _FakeClient:
    def __init__(self, acks: list[bool]) -> None:
        self.acks, self.auth_failures = acks, 0

    def status(self) -> Any:
        ok = self.acks.pop(0) if self.acks else False
        if not ok:
            self.auth_failures += 1
            raise NoAckError("tcp://127.0.0.1:9", "status", 1, 10)
        return type("R", (), {"result": {"trading_state": "HALTED", "node": "primary"}})()


class _FakeSub:
    malformed = 3

    def recv(self, timeout_ms: float) -> None:
        return None


def test_run_exporter_when_status_stops_answering_then_control_up_falls_and_state_is_kept() -> None:
    ex = Exporter(clock=lambda: NOW)
    model = run_exporter(_FakeClient([True]), _FakeSub(), ex, interval_s=0.01, cycles=1)  # type: ignore[arg-type]
    assert value(ex, "colo_core_control_up", node="primary") == 1
    client = _FakeClient([False])
    run_exporter(client, _FakeSub(), ex, interval_s=0.01, cycles=1, model=model)  # type: ignore[arg-type]
    assert value(ex, "colo_core_control_up", node="primary") == 0
    assert value(ex, "colo_core_trading_state", node="primary", scope="firm", key="", state="HALTED") == 1
    assert value(ex, "colo_core_auth_failures_total", node="primary", side="client") == 1
    assert value(ex, "colo_core_telemetry_malformed_total", node="primary") == 3
    stop = threading.Event()
    stop.set()
    run_exporter(client, _FakeSub(), ex, interval_s=60, stop=stop, model=model)  # type: ignore[arg-type]


def test_exporter_when_registered_then_describes_every_metric_once() -> None:
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry()
    Exporter(reg, clock=lambda: NOW)
    with pytest.raises(ValueError, match="Duplicated"):
        Exporter(reg, clock=lambda: NOW)
    assert {m.type for m in METRICS} == {GAUGE, COUNTER, HISTOGRAM}


def test_telemetry_when_imported_then_exporter_names_resolve_lazily_without_prometheus() -> None:
    code = ("import sys, core_bridge.telemetry as t; before = 'prometheus_client' in sys.modules;"
            "import core_bridge.exporter as e;"
            "print(before, t.Exporter is e.Exporter, t.run_exporter is e.run_exporter)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


def test_exporter_when_a_clock_breach_leaves_the_window_then_max_offset_falls_and_no_offset_is_absent() -> None:
    m = TelemetryModel()
    m.observe(b"hb", {"node": "primary", "core_time_ns": NOW, "clock_offset_ns": 300_000}, NOW)
    m.observe(b"hb", {"node": "primary", "core_time_ns": NOW + 61 * S, "clock_offset_ns": -20_000}, NOW + 61 * S)
    ex = Exporter(clock=lambda: NOW + 61 * S)
    ex.update(m)
    assert value(ex, "colo_core_clock_offset_max_abs_seconds", node="primary") == pytest.approx(20e-6)
    quiet = TelemetryModel()
    quiet.observe(b"hb", {"node": "primary", "core_time_ns": NOW}, NOW)  # a core that reports no offset
    ex2 = Exporter(clock=lambda: NOW)
    ex2.update(quiet)
    names = {k[0] for k in samples(ex2)}
    assert "colo_core_clock_offset_seconds" not in names and "colo_core_clock_offset_max_abs_seconds" not in names
