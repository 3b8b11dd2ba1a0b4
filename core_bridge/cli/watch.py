"""`corectl watch`: the live view's loop, options and exit codes. What a frame shows and how the model is
refreshed is `core_bridge.watch_view` (no CLI there); it and rich load only when this command runs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from core_bridge.cli.common import ExitCode, Options, guard, json_options, print_json
from core_bridge.cli.params import JSON_OPT


def register(app: typer.Typer) -> None:
    app.command()(watch)


def watch(
    ctx: typer.Context,
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Render one frame and exit (scripts, tests)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Live view: trading state, kill levels, heartbeat age, orders/s, rejects by reason, exposure, latency,
    and the risk watcher's figures and rule states (armed, confirming k/N, tripped, cooling down)."""
    opts = json_options(ctx, json_out)
    code = guard(opts, lambda: run_watch(opts, interval=interval, once=once))
    raise typer.Exit(int(code))


def run_watch(opts: Options, *, interval: float, once: bool) -> int:
    """Returns the exit code: 0 when acked with a heartbeat seen, 5 when the feed was silent."""
    from rich.console import Console, Group

    from core_bridge.riskwatch import view as risk_view
    from core_bridge.telemetry import TelemetryModel, TelemetrySubscriber
    from core_bridge.watch_view import refresh, render

    client = opts.client()
    sub = TelemetrySubscriber(opts.telemetry_endpoint(), client.keys_dir, client.identity, context=client._ctx)
    model = TelemetryModel()
    endpoint = opts.control_endpoint()
    capture = Path(opts.settings().run_dir) / "capture.json"
    watcher = Path(opts.settings().run_dir) / "riskwatch.json"

    def frame() -> Group:
        return Group(render(model, endpoint), risk_view.render(risk_view.summary(risk_view.read_status(watcher))))

    try:
        if once:
            refresh(model, client, sub, opts.timeout_ms, capture)
            if opts.json:
                print_json({**model.to_json(), "riskwatch": risk_view.summary(risk_view.read_status(watcher))})
            else:
                Console().print(frame())
            return int(ExitCode.OK if model.heartbeat is not None else ExitCode.DEGRADED)
        from rich.live import Live

        refresh(model, client, sub, min(opts.timeout_ms, interval * 1000), capture)
        with Live(frame(), refresh_per_second=4, screen=False) as live:
            while True:
                refresh(model, client, sub, interval * 1000, capture)
                live.update(frame())
    except KeyboardInterrupt:
        return int(ExitCode.OK)
    finally:
        sub.close()
        client.close()
