"""`corectl conformance`: docs/protocol.md's observable rules run against a core, pass / fail / n/a per rule
with the evidence, for the C team's CI as much as for on-call's "is this build safe to connect?".

The suite (core_bridge.conformance) is imported inside the command, never at module import: `corectl`'s
cold start must not pay for it. Exit codes: 0 no rule failed (n/a is not a failure), 1 a rule failed,
2 usage, 3 the core did not answer `hello`, 4 configuration (key files missing).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from core_bridge.cli.common import ExitCode, fail, guard, json_options
from core_bridge.cli.params import JSON_OPT


def register(app: typer.Typer) -> None:
    app.command("conformance")(conformance)


def conformance(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, "--endpoint", "-e", help="The core's control endpoint (default: "
                                        "the global --endpoint, else the configured core)."),
    telemetry: str | None = typer.Option(None, "--telemetry", help="Telemetry endpoint (default: control + 1)."),
    dropcopy: str | None = typer.Option(None, "--dropcopy", help="Drop-copy endpoint (default: control + 2)."),
    rewind: str | None = typer.Option(None, "--rewind", help="Rewind endpoint (default: control + 3)."),
    keys_dir: Path | None = typer.Option(None, "--keys-dir", help="Keys directory with core.key and "
                                         "clients/<monitor|operator>.key_secret (default COLO_OPS_HOME/keys)."),
    json_out: bool = JSON_OPT,
    report: Path | None = typer.Option(None, "--report", help="Write the JSON and the HTML report: PATH.json + "
                                       "PATH.html (PATH may end in either), or into a directory."),
    allow_restart: str | None = typer.Option(None, "--allow-restart", metavar="CMD", help="A shell command that "
                                             "restarts the core; without it the restart rule is n/a."),
    rule: list[str] = typer.Option([], "--rule", help="Run only this rule (repeatable)."),
    symbol: str = typer.Option("ZZCONF", "--symbol", help="The kill scope the suite may change (a symbol no "
                               "book trades; left ACTIVE)."),
    operator_key: str = typer.Option("operator", "--operator-key", help="Operator identity under clients/."),
    monitor_key: str = typer.Option("monitor", "--monitor-key", help="Monitor identity under clients/."),
    stream_seconds: float = typer.Option(3.0, "--stream-seconds", min=0.5, help="Drop copy watched this long."),
    reply_timeout: float = typer.Option(2.0, "--reply-timeout", min=0.1, help="Deadline of one reply, s."),
) -> None:
    """Run the protocol conformance suite against a core: handshake, keys and roles, idempotency, kill
    levels, cancels, expiry, malformed frames, heartbeat, drop copy, rewind, restart (--allow-restart).

    It changes the --symbol kill scope and, briefly, the firm level (restored): use a test core.

    Exit 0 when no rule failed (n/a is not a failure), 1 when one did, 3 when the core does not answer."""
    opts = json_options(ctx, json_out)
    from core_bridge.conformance import Config, Endpoints, RuleResult, Unreachable, run_suite, shell_restart
    from core_bridge.conformance.report import dumps, text_details, text_line, write_reports
    from core_bridge.conformance.runner import RULE_NAMES, unknown_rules

    bad = unknown_rules(rule)
    if bad:
        fail(opts, ExitCode.USAGE, "usage", f"unknown rule(s) {', '.join(bad)}; rules: {', '.join(RULE_NAMES)}")
    if not (1 <= len(symbol) <= 8 and symbol.isascii() and symbol.isprintable()):
        fail(opts, ExitCode.USAGE, "usage", "--symbol must be 1..8 printable ASCII characters")

    def endpoints() -> Any:
        control = endpoint or opts.endpoint
        if control:
            return Endpoints.around(control, telemetry or opts.telemetry, dropcopy, rewind)
        return Endpoints(opts.control_endpoint(), telemetry or opts.telemetry_endpoint(),
                         dropcopy or opts._configured("dropcopy"), rewind or opts._configured("rewind"))

    eps = guard(opts, endpoints)
    config = Config(eps, keys_dir or opts.resolved_keys_dir(), operator_key=operator_key, monitor_key=monitor_key,
                    symbol=symbol, timeout_s=reply_timeout, stream_seconds=stream_seconds,
                    restart=shell_restart(allow_restart) if allow_restart else None,
                    restart_label=allow_restart or "")

    def show(r: RuleResult) -> None:
        if not opts.json:
            print("\n".join([text_line(r), *text_details(r)]), flush=True)

    if not opts.json:
        print(f"conformance of the core at {eps.control} (keys {config.keys_dir})", flush=True)
    try:
        result = guard(opts, lambda: run_suite(config, rule or None, show))
    except Unreachable as exc:
        fail(opts, ExitCode.NO_ACK, "no_ack", f"{exc} - is the core up, and are these its keys?")
    doc = result.to_json()
    written = write_reports(doc, report) if report is not None else []
    counts = doc["counts"]
    if opts.json:
        sys.stdout.write(dumps(doc | {"reports": [str(p) for p in written]}).decode() + "\n")
    else:
        core = doc["core"]
        print(f"{'CONFORMS' if doc['ok'] else 'DOES NOT CONFORM'}: {counts['pass']} pass, {counts['fail']} fail, "
              f"{counts['n/a']} n/a - core {core.get('core_id')} epoch {core.get('epoch')}, "
              f"{doc['seconds']:.1f} s" + (f"; report {', '.join(map(str, written))}" if written else ""))
    raise typer.Exit(int(ExitCode.OK if doc["ok"] else ExitCode.REFUSED))
