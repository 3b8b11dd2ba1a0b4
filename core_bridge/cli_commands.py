"""The typer app of `corectl`: every command, its options and its --help text.

`core_bridge.cli.main` (the entry point) sends plain kill/resume/cancel-all invocations down a fast path
that never imports this module; everything else lands here. The logic these commands share with the fast
path (options, exit codes, output, kill/cancel implementations) lives in `core_bridge.cli`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from core_bridge.cli import (
    EXIT_HELP,
    ExitCode,
    Options,
    _fail,
    _guard,
    _kill_level,
    _print_json,
    _scope_or_usage,
    _with_client,
    default_key,
    do_cancel_all,
    do_set_level,
    parse_assignments,
    parse_since,
    parse_until,
    status_doc,
)

__all__ = ["add_journal_commands", "app"]

app = typer.Typer(
    name="corectl",
    help="Control and watch the trading core: status, kill switch, limits, audit.\n\n" + EXIT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
limits_app = typer.Typer(help="Show or change 15c3-5 risk limits (changes need --approver and --reason).",
                         no_args_is_help=True)
keys_app = typer.Typer(help="CURVE key management.", no_args_is_help=True)
ha_app = typer.Typer(help="High availability (Binary Star pair): status of each node; manual promote/demote "
                          "(admin key, audited).", no_args_is_help=True)
app.add_typer(limits_app, name="limits")
app.add_typer(keys_app, name="keys")
app.add_typer(ha_app, name="ha")


def _opts(ctx: typer.Context) -> Options:
    obj = ctx.find_root().obj
    opts = obj.get("options") if isinstance(obj, dict) else None
    if not isinstance(opts, Options):  # a command run without the root callback (direct invocation in code)
        opts = Options(None, None, default_key(), None, 1500, 2, False, None)
    return opts


@app.callback()
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
    # A dict so sub-apps (cli_journal) can read the root --json as ctx.find_root().obj["json"].
    opts = Options(endpoint, telemetry, key or default_key(), operator, timeout, retries, json_out, keys_dir)
    ctx.obj = {"json": json_out, "options": opts}


def _jsonflag(ctx: typer.Context, local: bool) -> Options:
    opts = _opts(ctx)
    opts.json = opts.json or local
    return opts


JSON_OPT = typer.Option(False, "--json", help="Print one JSON object.")


@app.command()
def status(ctx: typer.Context, json_out: bool = JSON_OPT) -> None:
    """Core status: HA role, trading state, kill levels, last seq, heartbeat age, limits version.

    Asks the core (control) and listens for one heartbeat (telemetry) at the same time. Exit 0 only when
    the core acked and a heartbeat arrived within --timeout; exit 5 (with heartbeat_age_ms null) when the
    core acked but telemetry was silent.
    """
    opts = _jsonflag(ctx, json_out)

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

    reply, age = _with_client(opts, run)
    doc = status_doc(reply.result, reply.state_version, age, opts.control_endpoint())
    code = ExitCode.OK if age is not None else ExitCode.DEGRADED
    if opts.json:
        _print_json(doc)
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


FIRM = typer.Option(False, "--firm", help="The whole firm.")
ACCOUNT = typer.Option(None, "--account", "-a", help="One account, e.g. PROP01.")
SYMBOL = typer.Option(None, "--symbol", "-s", help="One symbol, e.g. AAPL.")
VENUE = typer.Option(None, "--venue", "-v", help="One venue: NSDQ, NYSE or ARCA.")
REASON = typer.Option(..., "--reason", "-r", help="Why (required; recorded by the core and the audit log).")
IDEM = typer.Option(None, "--id", help="Idempotency key: re-running with the same key and arguments applies once.")


@app.command()
def kill(
    ctx: typer.Context,
    firm: bool = FIRM,
    account: str | None = ACCOUNT,
    symbol: str | None = SYMBOL,
    venue: str | None = VENUE,
    level: str = typer.Option("HALTED", "--level", "-l",
                              help="HALTED (nothing new), CANCEL_ONLY (cancels only), REDUCE_ONLY (only "
                                   "exposure-reducing orders). Default HALTED. Cancels are never blocked."),
    reason: str = REASON,
    idem: str | None = IDEM,
    json_out: bool = JSON_OPT,
) -> None:
    """Set the kill level of one scope (firm, account, symbol or venue). Levels are set, never toggled.

    Example: corectl kill --firm --level HALTED --reason "runaway algo, INC-123". Working orders stay
    working: follow with `corectl cancel-all`. Exit 0 only when the core acked the new level.
    """
    opts = _jsonflag(ctx, json_out)
    sc = _scope_or_usage(opts, firm, account, symbol, venue)
    do_set_level(opts, sc, _kill_level(opts, level), reason, idem)


@app.command()
def resume(
    ctx: typer.Context,
    firm: bool = FIRM,
    account: str | None = ACCOUNT,
    symbol: str | None = SYMBOL,
    venue: str | None = VENUE,
    reason: str = REASON,
    idem: str | None = IDEM,
    json_out: bool = JSON_OPT,
) -> None:
    """Set one scope back to ACTIVE. Other scopes keep their levels (the most restrictive one wins)."""
    opts = _jsonflag(ctx, json_out)
    do_set_level(opts, _scope_or_usage(opts, firm, account, symbol, venue), "ACTIVE", reason, idem)


@app.command("cancel-all")
def cancel_all(
    ctx: typer.Context,
    firm: bool = FIRM,
    account: str | None = ACCOUNT,
    symbol: str | None = SYMBOL,
    venue: str | None = VENUE,
    reason: str = REASON,
    idem: str | None = IDEM,
    json_out: bool = JSON_OPT,
) -> None:
    """Cancel every working order in one scope. Never blocked by a kill level; does not change levels."""
    opts = _jsonflag(ctx, json_out)
    do_cancel_all(opts, _scope_or_usage(opts, firm, account, symbol, venue), reason, idem)


@app.command()
def watch(
    ctx: typer.Context,
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Render one frame and exit (scripts, tests)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Live view: trading state, kill levels, heartbeat age, orders/s, rejects by reason, exposure, latency."""
    opts = _jsonflag(ctx, json_out)
    from core_bridge.watch import run_watch

    code = _guard(opts, lambda: run_watch(opts, interval=interval, once=once))
    raise typer.Exit(int(code))


@app.command()
def exporter(
    ctx: typer.Context,
    port: int = typer.Option(9108, "--port", help="HTTP port for /metrics."),
    addr: str = typer.Option("127.0.0.1", "--addr", help="Address to listen on."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, help="Seconds between refreshes."),
) -> None:
    """Serve Prometheus metrics for the core (trading state, kill levels, heartbeat age, orders/s, rejects,
    exposure, latency, capture lag, auth failures) until Ctrl-C. Use a monitor key: --key monitor."""
    opts = _opts(ctx)
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

    _guard(opts, run)


@limits_app.command("show")
def limits_show(
    ctx: typer.Context,
    account: str | None = typer.Option(None, "--account", "-a", help="Only this account (and the firm)."),
    json_out: bool = JSON_OPT,
) -> None:
    """The limits in force (firm and per account), temporary raises and their expiry, limits version."""
    opts = _jsonflag(ctx, json_out)
    reply = _with_client(opts, lambda c: c.snapshot())
    r = reply.result
    limits = r.get("limits") or {}
    if account:
        limits = {k: v for k, v in limits.items() if k in ("firm", account)}
    temp = [t for t in (r.get("temp_limits") or []) if not account or t.get("account") in (None, account)]
    doc = {"limits_version": r.get("limits_version"), "limits": limits, "temp_limits": temp,
           "state_version": reply.state_version}
    if opts.json:
        _print_json(doc)
        return
    print(f"limits version {doc['limits_version']}")
    for who, vals in limits.items():
        print(f"[{who}]")
        for k, v in sorted((vals or {}).items()):
            print(f"  {k:22} {v}")
    for t in temp:
        from core_bridge.audit import utc_text

        print(f"temporary: account={t.get('account')} {t.get('limits')} until {utc_text(int(t.get('until_ns') or 0))}")


@limits_app.command("set")
def limits_set(
    ctx: typer.Context,
    assignments: list[str] = typer.Argument(..., help="KEY=VALUE, e.g. max_order_qty=5000 max_order_notional=250000"),
    approver: str = typer.Option(..., "--approver", help="Who approved the change (required)."),
    reason: str = REASON,
    account: str | None = typer.Option(None, "--account", "-a", help="Account limits (default: firm limits)."),
    until: str | None = typer.Option(None, "--until", help="Temporary: revert at HH:MM (New York), +30m, or ISO."),
    idem: str | None = IDEM,
    json_out: bool = JSON_OPT,
) -> None:
    """Change 15c3-5 limits. Keys: max_order_qty, max_order_notional, price_collar_pct, duplicate_window_ms,
    max_orders_per_sec, credit_threshold, gross_exposure_cap, net_exposure_cap. Money as decimal text."""
    opts = _jsonflag(ctx, json_out)
    try:
        from core_bridge.client import normalize_limits

        limits = normalize_limits(parse_assignments(assignments))
        until_ns = parse_until(until) if until else None
        if not approver.strip() or not reason.strip():
            raise ValueError("--approver and --reason must not be empty")
    except ValueError as exc:
        _fail(opts, ExitCode.USAGE, "usage", str(exc))
    reply = _with_client(opts, lambda c: c.set_limits(limits, approver, reason, account=account, until_ns=until_ns,
                                                      idempotency_key=idem))
    doc = {"ok": True, "command": "set_limits", "account": account, "limits": reply.result.get("limits"),
           "limits_version": reply.result.get("limits_version"), "until_ns": until_ns,
           "state_version": reply.state_version, "id": reply.id}
    if opts.json:
        _print_json(doc)
    else:
        print(f"ACK limits version {doc['limits_version']} for {account or 'firm'}"
              + (f" until {until}" if until else "") + f" (state version {reply.state_version})")


@app.command()
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
    opts = _jsonflag(ctx, json_out)
    from core_bridge.audit import AuditQuery, default_path, read_audit

    try:
        since_ns = parse_since(since) if since else None
    except ValueError as exc:
        _fail(opts, ExitCode.USAGE, "usage", str(exc))
    target = path or default_path(opts.settings().home)
    got = read_audit(target, AuditQuery(since_ns, command, operator, last))
    if opts.json:
        _print_json({"path": str(target), "records": got.records, "skipped_lines": got.skipped_lines})
        return
    for r in got.records:
        where = r.get("scope") or ""
        if r.get("key"):
            where += f" {r['key']}"
        print(f"{r.get('utc')}  {r.get('operator')} ({r.get('identity')}/{r.get('role')})  {r.get('command')} "
              f"{where}  {r.get('result')} {r.get('code') or ''} v={r.get('state_version')}  \"{r.get('reason')}\"")
    if got.skipped_lines:
        sys.stderr.write(f"corectl: skipped unreadable line(s) {got.skipped_lines} in {target}\n")


NODE = typer.Option(None, "--node", "-n", help="primary or standby (default for status: both).")


def _node_opts(opts: Options, node: str) -> Options:
    """Options addressing one node: --endpoint if given, else the node's configured control endpoint."""
    import dataclasses

    if node not in ("primary", "standby"):
        _fail(opts, ExitCode.USAGE, "usage", f"--node must be primary or standby, not {node!r}")
    if opts.endpoint:
        return opts
    return dataclasses.replace(opts, endpoint=opts.settings().core_endpoint("control", node))


def _ha_line(doc: dict[str, Any]) -> str:
    peer = "peer lost" if not doc.get("peer_alive") else f"peer {doc.get('peer_state')} ({doc.get('peer_seen_ms')} ms)"
    flags = " ".join(f for f, on in (("FENCED", doc.get("fenced")), ("DEGRADED", doc.get("degraded"))) if on)
    return (f"{doc.get('node'):8} {str(doc.get('fsm') or doc.get('ha_role')):16} term {doc.get('term')}  "
            f"epoch {doc.get('epoch')}  {peer}  split-brain refusals {doc.get('split_brain_refusals', 0)}"
            + (f"  {flags}" if flags else ""))


@ha_app.command("status")
def ha_status(ctx: typer.Context, node: str | None = NODE, json_out: bool = JSON_OPT) -> None:
    """Each node's HA state: FSM role, fencing term, epoch, peer heartbeat age, fenced/degraded flags.

    Exit 0 when every asked node answered; 3 when one did not (the other's status is still printed)."""
    opts = _jsonflag(ctx, json_out)
    nodes = [node] if node else ["primary", "standby"]
    docs: dict[str, Any] = {}
    code = ExitCode.OK
    for n in nodes:
        o = _node_opts(opts, n)
        client = o.client()
        try:
            docs[n] = {**client.ha_status().result, "endpoint": o.control_endpoint()}
        except Exception as exc:  # one node down must not hide the other's status
            docs[n] = {"node": n, "error": str(exc), "endpoint": o.control_endpoint()}
            code = ExitCode.NO_ACK
        finally:
            client.close()
    if opts.json:
        _print_json({"nodes": docs, "active": [n for n, d in docs.items() if d.get("ha_role") == "active"]})
    else:
        for n, d in docs.items():
            print(f"{n:8} NO ANSWER at {d['endpoint']}: {d['error']}" if "error" in d else _ha_line(d))
    raise typer.Exit(int(code))


def _ha_change(ctx: typer.Context, node: str, reason: str, json_out: bool, promote: bool) -> None:
    opts = _node_opts(_jsonflag(ctx, json_out), node)

    def run(client: Any) -> Any:
        return client.ha_promote(reason) if promote else client.ha_demote(reason)

    reply = _with_client(opts, run)
    doc = {"ok": True, "node": node, "changed": reply.result.get("changed"), **reply.result}
    if opts.json:
        _print_json(doc)
    else:
        print(("promoted: " if promote else "demoted: ") if doc["changed"] else "unchanged: ", end="")
        print(_ha_line(reply.result))


@ha_app.command("promote")
def ha_promote(ctx: typer.Context, node: str = typer.Option(..., "--node", "-n", help="primary or standby."),
               reason: str = REASON, json_out: bool = JSON_OPT) -> None:
    """Make a passive node active (manual failback). Refused with HA_SPLIT_BRAIN (exit 1) while its peer is
    alive and active: demote the active node first. Needs an admin key (--key admin); audited."""
    _ha_change(ctx, node, reason, json_out, promote=True)


@ha_app.command("demote")
def ha_demote(ctx: typer.Context, node: str = typer.Option(..., "--node", "-n", help="primary or standby."),
              reason: str = REASON, json_out: bool = JSON_OPT) -> None:
    """Make the active node passive (first step of a manual failback). Refused while no live peer could take
    over. Needs an admin key (--key admin); audited."""
    _ha_change(ctx, node, reason, json_out, promote=False)


@keys_app.command("init")
def keys_init(
    ctx: typer.Context,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing keys (every client needs new ones)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Create the core keypair, monitor/capture/operator/admin client keys and roles.json (idempotent)."""
    opts = _jsonflag(ctx, json_out)
    from core_bridge.auth import DEFAULT_CLIENTS, generate_keyset

    kd = opts.resolved_keys_dir()
    _guard(opts, lambda: generate_keyset(kd, overwrite=overwrite))
    clients = {n: r.value for n, r in DEFAULT_CLIENTS.items()}
    if opts.json:
        _print_json({"ok": True, "keys_dir": str(kd), "clients": clients})
    else:
        print(f"keys in {kd}: core + " + ", ".join(f"{n} ({r})" for n, r in clients.items()))


# --- optional sub-commands from core_bridge.cli_journal (loaded only when asked for) -----------------------

_JOURNAL_WORDS = {"journal", "capture", "--help", "-h"}


def add_journal_commands(argv: list[str]) -> None:
    if argv and not _JOURNAL_WORDS.intersection(argv):
        return  # keep `corectl kill` cold start small
    try:
        from core_bridge import cli_journal  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        return
    journal_app = getattr(cli_journal, "journal_app", None)
    if journal_app is not None:
        app.add_typer(journal_app, name="journal")
    capture = getattr(cli_journal, "capture_command", None) or getattr(cli_journal, "capture", None)
    if capture is not None:
        app.command("capture")(capture)


