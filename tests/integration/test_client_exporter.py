"""The Prometheus exporter fed by the real twin's status acks and telemetry, scraped over HTTP."""

from __future__ import annotations

import urllib.request

from core_bridge.client.commands import CoreClient
from core_bridge.telemetry import Exporter, TelemetrySubscriber, run_exporter
from hw.twin.launch import TwinHandle, free_ports


def test_exporter_when_twin_publishes_then_metrics_scraped_over_http(twin_core: TwinHandle) -> None:
    with CoreClient(twin_core.endpoints["control"], twin_core.keys_dir, identity="monitor") as client:
        sub = TelemetrySubscriber(twin_core.endpoints["telemetry"], twin_core.keys_dir, "monitor")
        ex = Exporter()
        port = free_ports(1)[0]
        server = ex.serve(port)
        try:
            model = run_exporter(client, sub, ex, interval_s=1.3, cycles=1)  # health comes once a second
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()  # noqa: S310
        finally:
            server.shutdown()
            sub.close()
    assert model.heartbeat is not None and model.health
    assert 'colo_core_trading_state{key="",node="primary",scope="firm",state="ACTIVE"} 1.0' in body
    assert 'colo_core_trading_state{key="",node="primary",scope="firm",state="HALTED"} 0.0' in body
    assert 'colo_core_control_up{node="primary"} 1.0' in body
    assert 'colo_core_heartbeat_received{node="primary"} 1.0' in body
    assert 'colo_core_orders_total{node="primary"} 0.0' in body
    assert 'colo_core_auth_failures_total{node="primary",side="core"} 0.0' in body
    age_line = 'colo_core_heartbeat_age_seconds{node="primary"} '
    age = next(line for line in body.splitlines() if line.startswith(age_line))
    assert float(age.split()[1]) >= 0
    assert "NaN" not in body
