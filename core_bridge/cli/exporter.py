"""`corectl exporter`: Prometheus metrics for one core, served by a long-running corectl so the metrics
speak with the same key, endpoints and client as every other corectl command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from core_bridge.cli.common import guard, options_from


def register(app: typer.Typer) -> None:
    app.command()(exporter)


def exporter(
    ctx: typer.Context,
    port: int = typer.Option(9108, "--port", help="HTTP port for /metrics."),
    addr: str = typer.Option("127.0.0.1", "--addr", help="Address to listen on."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, help="Seconds between refreshes."),
) -> None:
    """Serve Prometheus metrics for the core (trading state, kill levels, heartbeat age, orders/s, rejects,
    exposure, latency, capture lag, auth failures) until Ctrl-C. Use a monitor key: --key monitor."""
    opts = options_from(ctx)
    from core_bridge.telemetry import Exporter, TelemetrySubscriber, run_exporter

    def run() -> None:
        client = opts.client()
        sub = TelemetrySubscriber(opts.telemetry_endpoint(), client.keys_dir, client.identity, context=client._ctx)
        ex = Exporter()
        server = ex.serve(port, addr)
        sys.stderr.write(f"corectl: serving metrics on http://{addr}:{port}/metrics\n")
        try:
            run_exporter(client, sub, ex, interval_s=interval,
                         capture_status=Path(opts.settings().run_dir) / "capture.json")
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            sub.close()
            client.close()

    guard(opts, run)
