"""`corectl status`: one status ack plus one heartbeat, so "the core answers" and "its telemetry flows" are
both checked by the command on-call runs first.
"""

from __future__ import annotations

from typing import Any

import typer

from core_bridge.cli.common import ExitCode, json_options, print_json, with_client
from core_bridge.cli.params import JSON_OPT


def register(app: typer.Typer) -> None:
    app.command()(status)


def status_doc(result: dict[str, Any], state_version: int, hb_age: float | None, endpoint: str) -> dict[str, Any]:
    """The `status --json` object: the contract keys first, then everything the core said."""
    doc = {
        "role": result.get("ha_role"),
        "trading_state": result.get("trading_state"),
        "kill": result.get("kill"),
        "last_seq": result.get("last_seq"),
        "heartbeat_age_ms": hb_age,
        "limits_version": result.get("limits_version"),
    }
    return doc | {k: v for k, v in result.items() if k not in doc} | {
        "state_version": result.get("state_version", state_version),
        "endpoint": endpoint,
    }


def status(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Core status: HA role, trading state, kill levels, last seq, heartbeat age, limits version.

    Asks the core (control) and listens for one heartbeat (telemetry) at the same time. Exit 0 only when
    the core acked and a heartbeat arrived within --timeout; exit 5 (with heartbeat_age_ms null) when the
    core acked but telemetry was silent.
    """
    opts = json_options(ctx, json_out)

    def run(client: Any) -> tuple[Any, float | None]:
        from core_bridge.telemetry import TelemetrySubscriber, heartbeat_age_ms

        sub = TelemetrySubscriber(opts.telemetry_endpoint(), client.keys_dir, client.identity,
                                  topics=(b"hb",), context=client._ctx)
        try:
            reply = client.status()
            hb = sub.wait_heartbeat(opts.timeout_ms)
        finally:
            sub.close()
        return reply, heartbeat_age_ms(hb[0], hb[1]) if hb else None

    reply, age = with_client(opts, run)
    doc = status_doc(reply.result, reply.state_version, age, opts.control_endpoint())
    code = ExitCode.OK if age is not None else ExitCode.DEGRADED
    if opts.json:
        print_json(doc)
    else:
        kill = doc.get("kill") or {}
        scoped = ", ".join(
            f"{s} {k}={v}" for s in ("account", "symbol", "venue") for k, v in (kill.get(s) or {}).items()
        )
        unknown = "   STATE UNKNOWN at start" if doc.get("state_unknown") else ""
        lines = [
            f"core {doc.get('node')} ({doc['role']}) at {doc['endpoint']}",
            f"trading state  {doc['trading_state']}{unknown}",
            f"kill           firm={kill.get('firm')}" + (f"; {scoped}" if scoped else ""),
            f"last seq       {doc['last_seq']} (epoch {doc.get('epoch')})",
            f"heartbeat age  {'NONE within ' + str(opts.timeout_ms) + ' ms' if age is None else f'{age:.1f} ms'}",
            f"limits version {doc['limits_version']}   state version {doc['state_version']}",
            f"orders working {doc.get('orders_working')}",
        ]
        print("\n".join(lines))
    raise typer.Exit(int(code))
