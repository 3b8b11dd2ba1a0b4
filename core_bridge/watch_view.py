"""What `corectl watch` shows: a rich view of one core, refreshed from status acks and the telemetry feed.

Rendering is a pure function of a `TelemetryModel` (`render`), so `--once` and tests draw exactly what the
live view draws; the loop, options and exit codes are the CLI's (`core_bridge.cli.watch`). rich is imported
inside the functions, never on the kill path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from core_bridge.telemetry import TelemetryModel, TelemetrySubscriber, observe_capture, read_capture_status

_LEVEL_STYLE = {"ACTIVE": "green", "REDUCE_ONLY": "yellow", "CANCEL_ONLY": "dark_orange", "HALTED": "bold red"}


def _level(text: str | None) -> Any:
    from rich.text import Text

    if text is None:
        return Text("UNKNOWN", style="bold red")
    return Text(text, style=_LEVEL_STYLE.get(text, "bold red"))


def render(model: TelemetryModel, endpoint: str = "", now_ns: int | None = None) -> Any:
    """One frame: header, kill levels, flow figures, rejects by reason."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    age = model.heartbeat_age_ms(now_ns)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    j = model.to_json(now_ns)
    head.add_row("core", f"{j['node'] or '?'} ({j['role'] or '?'}) {endpoint}")
    head.add_row("trading state", _level(model.trading_state))
    head.add_row("heartbeat age",
                 Text("NONE", style="bold red") if age is None
                 else Text(f"{age:,.1f} ms", style="red" if age > 2000 else "green"))
    head.add_row("last seq", str(j["last_seq"]))
    head.add_row("capture lag", "?" if j["capture_lag"] is None else f"{j['capture_lag']:,} events")
    head.add_row("orders/s", "?" if j["orders_per_sec"] is None else f"{j['orders_per_sec']:,.1f}")
    lat = model.latency_us
    head.add_row("latency", ", ".join(f"{k} {v:,.1f} us" for k, v in lat.items()) or "?")
    firm = model.exposure.get("firm")
    head.add_row("exposure", f"gross {firm.get('gross')}, net {firm.get('net')}" if firm else "?")
    core_fail = model.core_auth_failures
    head.add_row("auth failures", f"core {'?' if core_fail is None else core_fail}, "
                                  f"this client {model.client_auth_failures}")
    head.add_row("limits version", str(j["limits_version"]))

    kills = Table(title="kill levels", show_edge=False, min_width=40)
    kills.add_column("scope")
    kills.add_column("key")
    kills.add_column("level")
    for scope, key, level in model.kill_levels():
        kills.add_row(scope, key or "-", _level(level))

    expo = Table(title="exposure by account", show_edge=False, min_width=40)
    expo.add_column("account")
    expo.add_column("gross", justify="right")
    expo.add_column("net", justify="right")
    for acct, fig in model.exposure.items():
        if acct != "firm":
            expo.add_row(acct, fig.get("gross", "?"), fig.get("net", "?"))

    rejects = Table(title="rejects by reason", show_edge=False, min_width=40)
    rejects.add_column("reason")
    rejects.add_column("count", justify="right")
    for reason, n in sorted(model.rejects_by_reason.items(), key=lambda kv: -kv[1]):
        rejects.add_row(reason, f"{n:,}")
    if not model.rejects_by_reason:
        rejects.add_row("-", "0" if model.health else "?")
    return Group(head, kills, expo, rejects)


def refresh(model: TelemetryModel, client: Any, sub: TelemetrySubscriber, wait_ms: float,
            capture_status: Path | None = None) -> None:
    """One status ack, the capture's status file, then what the feed holds, folded into the model."""
    reply = client.status()
    model.observe_status(reply.result)
    if capture_status is not None:
        observe_capture(model, read_capture_status(capture_status))
    model.client_auth_failures = client.auth_failures
    deadline = time.monotonic() + wait_ms / 1000
    # Drain what the feed has; on the first frame wait until both a heartbeat and a health message are in.
    while (remaining := (deadline - time.monotonic()) * 1000) > 0:
        got = sub.recv(remaining if model.heartbeat is None or not model.health else 1)
        if got is None:
            if model.heartbeat is not None and model.health:
                break
            continue
        model.observe(*got)
