"""`corectl riskwatch`: the risk watcher's command (check the trips file, or watch and trip).

Exit codes: 0 ok (rules valid; the watch ended with the core reachable), 2 the trips file is refused (one
line per problem) or a bad option, 3 the core did not ack the watcher at the end of the watch, 4 keys or
configuration. The watcher itself (core_bridge.riskwatch) loads only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core_bridge.cli.common import ExitCode, Options, fail, guard, json_options, print_json
from core_bridge.cli.params import JSON_OPT

if TYPE_CHECKING:
    from core_bridge.riskwatch.rules import RuleSet


def register(app: typer.Typer) -> None:
    app.command()(riskwatch)


def riskwatch(
    ctx: typer.Context,
    rules: Path | None = typer.Option(None, "--rules", help="Trips file (default infra/trips.toml, or setting "
                                      "riskwatch.rules)."),
    check: bool = typer.Option(False, "--check", help="Validate the trips file and exit (0 valid, 2 refused)."),
    once: bool = typer.Option(False, "--once", help="Wait for telemetry, evaluate once, print the status, exit."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Watch this many seconds, then exit."),
    port: int | None = typer.Option(None, "--port", help="Serve Prometheus metrics on this port (/metrics)."),
    addr: str = typer.Option("127.0.0.1", "--addr", help="Address for --port."),
    json_out: bool = JSON_OPT,
) -> None:
    """Watch telemetry and the drop copy and trip kill levels by the rules in infra/trips.toml (operator
    riskwatch, audited like a human command; never resumes). Use an operator key."""
    opts = json_options(ctx, json_out)
    from core_bridge.riskwatch.rules import RulesError, default_rules_path, load_rules

    path = rules or default_rules_path()
    try:
        ruleset = load_rules(path)
    except RulesError as exc:
        if opts.json:
            print_json({"ok": False, "error": "rules", "rules_file": str(path), "errors": exc.errors,
                        "exit_code": int(ExitCode.USAGE)})
        else:
            for line in exc.errors:
                typer.echo(f"corectl: rules: {line}", err=True)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if check:
        doc = {"ok": True, "rules_file": str(path), "rules": len(ruleset.rules), "digest": ruleset.digest,
               "approver": ruleset.approver}
        if opts.json:
            print_json(doc)
        else:
            typer.echo(f"ok: {len(ruleset.rules)} rule(s) in {path} ({ruleset.digest}, approved by {ruleset.approver})")
        raise typer.Exit(int(ExitCode.OK))
    code = guard(opts, lambda: _watch(opts, path, ruleset, once=once, duration=duration, port=port, addr=addr))
    raise typer.Exit(int(code))


def _watch(opts: Options, path: Path, ruleset: RuleSet, *, once: bool, duration: float | None, port: int | None,
           addr: str) -> int:
    import logging
    import signal
    import sys
    import threading

    from core_bridge.riskwatch.service import RiskWatcher, WatchConfig

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    cfg = WatchConfig.from_settings(path, control=opts.endpoint, telemetry=opts.telemetry, identity=opts.key,
                                    keys_dir=opts.keys_dir, timeout_ms=opts.timeout_ms, retries=opts.retries)
    watcher = RiskWatcher(cfg, ruleset)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    server = None
    if port is not None:
        from core_bridge.riskwatch.prom import serve

        server, _ = serve(watcher.last_status, port, addr)
        sys.stderr.write(f"corectl: riskwatch metrics on http://{addr}:{port}/metrics\n")
    try:
        status = watcher.run(stop, max_seconds=duration, once=once)
    finally:
        if server is not None:
            server.shutdown()
    reachable = status["core"]["reachable"]
    if opts.json:
        print_json(status)
    else:
        tripped = [t for t in status["trips"] if t["result"] == "acked"]
        typer.echo(f"riskwatch: {len(status['rules'])} rule(s), {len(tripped)} trip(s), core "
                   f"{'reachable' if reachable else 'UNREACHABLE'}, fail-safe {status['failsafe']}")
        for t in status["trips"]:
            typer.echo(f"  {t['result']:8} {t['rule']} {t['scope']} {t['key'] or ''} -> {t['level']}")
    if not reachable:
        if not opts.json:
            fail(opts, ExitCode.NO_ACK, "no_ack", f"the core did not ack the watcher: {status['core']['error']}")
        return int(ExitCode.NO_ACK)
    return int(ExitCode.OK)
