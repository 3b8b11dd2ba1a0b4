"""typer parameters that more than one corectl command module declares, declared once so their --help
texts cannot drift apart: the root callback with the global options, --json and --reason.

Only the command modules and `core_bridge.cli.app` import this (it imports typer); the fast path never does.
A unit test keeps the global options here and the fast path's option tables identical.
"""

from __future__ import annotations

from pathlib import Path

import typer

from core_bridge.cli.common import Options, default_key

JSON_OPT = typer.Option(False, "--json", help="Print one JSON object.")
REASON = typer.Option(..., "--reason", "-r", help="Why (required; recorded by the core and the audit log).")


def root(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(
        None, "--endpoint", "-e", help="Core control endpoint, e.g. tcp://10.0.0.5:17001 (default: "
        "COLO_OPS_CORE_PRIMARY_CONTROL, else a local twin's <home>/run/twin-primary.json, else port 17001)."
    ),
    telemetry: str | None = typer.Option(
        None, "--telemetry", help="Core telemetry endpoint (default: settings, or control port + 1 with --endpoint)."
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        "-k",
        help="Key identity under <keys>/clients/ (monitor: read-only; operator: kill/limits; admin: HA). "
        "Default: setting `key` (COLO_OPS_KEY or colo-ops.toml), else operator.",
    ),
    operator: str | None = typer.Option(None, "--operator", "-o", help="Your name for the core and the audit log."),
    timeout: int = typer.Option(1500, "--timeout", "-t", min=1, help="Deadline of one attempt, ms."),
    retries: int = typer.Option(2, "--retries", min=0, help="Re-sends after a timeout (same idempotency key)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object (machines, scripts)."),
    keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Keys directory (default COLO_OPS_HOME/keys)."),
) -> None:
    """Control and watch the trading core."""
    # A dict so sub-apps (core_bridge.cli.journal) can read the root --json as ctx.find_root().obj["json"].
    opts = Options(endpoint, telemetry, key or default_key(), operator, timeout, retries, json_out, keys_dir)
    ctx.obj = {"json": json_out, "options": opts}
