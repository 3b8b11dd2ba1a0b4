"""Telemetry model, Prometheus exporter and the watch frame, from a twin-shaped health message."""

from __future__ import annotations

from rich.console import Console

from core_bridge.telemetry import Exporter, TelemetryModel, heartbeat_age_ms, telemetry_endpoint_for
from core_bridge.watch_view import render

NOW = 1_763_800_000_000_000_000


def _model() -> TelemetryModel:
    m = TelemetryModel()
    m.observe_status({"trading_state": "CANCEL_ONLY", "ha_role": "active", "node": "primary", "last_seq": 120,
                      "limits_version": 3,
                      "kill": {"firm": "CANCEL_ONLY", "account": {"PROP02": "HALTED"}, "symbol": {}, "venue": {}}})
    m.observe(b"hb", {"node": "primary", "last_seq": 125, "core_time_ns": NOW - 40_000_000}, NOW - 39_000_000)
    m.observe(b"health", {"orders_per_s": 812.5, "auth_failures": 2,
                          "rejects": {"LIMIT_PRICE_COLLAR": 3, "KILL_CANCEL_ONLY": 9},
                          "exposure": {"PROP01": {"gross": "1000.50", "net": "-200"},
                                       "PROP02": {"gross": "10", "net": "10"}},
                          "gate_latency_ns": {"p50": 1500, "p99": 4200, "max": 9000, "samples": 50}}, NOW)
    m.captured_seq = 100
    return m


def test_model_when_twin_health_observed_then_figures_derived() -> None:
    m = _model()
    assert m.heartbeat_age_ms(NOW) == 40.0
    assert m.last_seq == 125 and m.capture_lag == 25
    assert m.orders_per_sec == 812.5
    assert m.latency_us == {"p50": 1.5, "p99": 4.2, "max": 9.0}
    assert m.exposure["firm"] == {"gross": "1010.50", "net": "-190"}
    assert m.kill_levels() == [("firm", None, "CANCEL_ONLY"), ("account", "PROP02", "HALTED")]


def test_model_when_nothing_heard_then_unknown_not_zero() -> None:
    m = TelemetryModel()
    assert m.heartbeat_age_ms(NOW) is None and m.orders_per_sec is None and m.capture_lag is None
    assert heartbeat_age_ms(None, None) is None


def test_exporter_when_updated_then_every_metric_present() -> None:
    m = _model()
    m.observe(b"health", {**m.health, "orders_per_s": 812.5}, NOW + 1_000_000_000)  # a second report, 1 s later
    ex = Exporter(clock=lambda: NOW)
    ex.update(m)
    text = ex.render().decode()
    assert 'colo_core_trading_state{key="",node="primary",scope="firm",state="CANCEL_ONLY"} 1.0' in text
    assert 'colo_core_trading_state{key="",node="primary",scope="firm",state="ACTIVE"} 0.0' in text
    assert 'colo_core_trading_state{key="PROP02",node="primary",scope="account",state="HALTED"} 1.0' in text
    assert 'colo_core_heartbeat_age_seconds{node="primary"} 0.04' in text
    assert 'colo_core_heartbeat_received{node="primary"} 1.0' in text
    assert 'colo_core_orders_total{node="primary"} 812.5' in text
    assert 'colo_core_rejects_total{node="primary",reason="KILL_CANCEL_ONLY"} 9.0' in text
    assert 'colo_core_exposure_dollars{account="firm",kind="gross",node="primary"} 1010.5' in text
    assert 'colo_core_gate_latency_seconds_bucket{le="5e-06",node="primary"} 98.0' in text  # 2 x (26 + 23) of 50
    assert 'colo_core_gate_latency_seconds_count{node="primary"} 100.0' in text
    assert 'colo_core_capture_lag_events{node="primary"} 25.0' in text
    assert 'colo_core_auth_failures_total{node="primary",side="core"} 2.0' in text
    assert "NaN" not in text


def test_render_when_model_full_then_frame_shows_levels_rejects_exposure_latency() -> None:
    console = Console(width=100, record=True, color_system=None)
    console.print(render(_model(), "tcp://127.0.0.1:17001", NOW))
    text = console.export_text()
    for fragment in ("CANCEL_ONLY", "PROP02", "HALTED", "40.0 ms", "812.5", "KILL_CANCEL_ONLY", "p99 4.2 us",
                     "gross 1010.50, net -190", "capture lag", "25 events"):
        assert fragment in text, fragment


def test_telemetry_endpoint_for_when_control_given_then_next_port() -> None:
    assert telemetry_endpoint_for("tcp://10.0.0.5:17001") == "tcp://10.0.0.5:17002"


def test_observe_capture_when_same_epoch_then_lag_from_durable_seq_else_unknown() -> None:
    from core_bridge.telemetry import observe_capture

    m = _model()
    m.status["epoch"] = 4
    observe_capture(m, {"durable": {"epoch": 4, "seq": 120}})
    assert m.capture_lag == 5
    observe_capture(m, {"durable": {"epoch": 3, "seq": 120}})
    assert m.captured_seq is None
    observe_capture(m, None)
    assert m.captured_seq is None
