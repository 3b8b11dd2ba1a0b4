"""`corectl audit`: the host's control audit log (core_bridge.audit) read back for a person, so "who did
what, why, and did the core ack it" is one command during an incident review.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from core_bridge.cli.common import ExitCode, fail, json_options, parse_since, print_json
from core_bridge.cli.params import JSON_OPT


def register(app: typer.Typer) -> None:
    app.command()(audit)


def audit(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="30m / 2h / 1d ago, today, or ISO date/time."),
    command: str | None = typer.Option(None, "--command", "-c", help="Only this command, e.g. set_kill."),
    operator: str | None = typer.Option(None, "--operator", help="Only this operator."),
    last: int | None = typer.Option(None, "--last", "-n", min=0, help="Only the last N matching records."),
    path: Path | None = typer.Option(None, "--path", help="Audit file (default COLO_OPS_HOME/audit/control.jsonl)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Every control command attempt from this host: who, what, why, result, acked state version."""
    opts = json_options(ctx, json_out)
    from core_bridge.audit import AuditQuery, default_path, read_audit

    try:
        since_ns = parse_since(since) if since else None
    except ValueError as exc:
        fail(opts, ExitCode.USAGE, "usage", str(exc))
    target = path or default_path(opts.settings().home)
    got = read_audit(target, AuditQuery(since_ns, command, operator, last))
    if opts.json:
        print_json({"path": str(target), "records": got.records, "skipped_lines": got.skipped_lines})
        return
    for r in got.records:
        where = r.get("scope") or ""
        if r.get("key"):
            where += f" {r['key']}"
        print(f"{r.get('utc')}  {r.get('operator')} ({r.get('identity')}/{r.get('role')})  {r.get('command')} "
              f"{where}  {r.get('result')} {r.get('code') or ''} v={r.get('state_version')}{_durability(r)}  "
              f"\"{r.get('reason')}\"")
    if got.skipped_lines:
        sys.stderr.write(f"corectl: skipped unreadable line(s) {got.skipped_lines} in {target}\n")


def _durability(r: dict) -> str:
    """` applied+durable` / ` applied, durable +0.8 ms` / ` applied, durable unconfirmed` (protocol v2 acks)."""
    applied, durable = r.get("applied_ns"), r.get("durable_ns")
    if not applied:
        return ""
    if not durable:
        return " applied, durable unconfirmed"
    return " applied+durable" if durable == applied else f" applied, durable +{(durable - applied) / 1e6:.1f} ms"
