"""`corectl kill|resume|cancel-all` and `corectl limits show|set`: the commands that change what the core
lets trade. Their --help texts live here; plain kill/resume/cancel-all invocations skip typer and run the
same `do_set_level`/`do_cancel_all` from `core_bridge.cli.common` (see `core_bridge.cli.fastpath`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from core_bridge.cli.common import (
    ExitCode,
    do_cancel_all,
    do_set_level,
    fail,
    json_options,
    kill_level,
    parse_assignments,
    parse_until,
    print_json,
    scope_or_usage,
    with_client,
)
from core_bridge.cli.params import JSON_OPT, REASON

limits_app = typer.Typer(help="Show, change or approve 15c3-5 risk limits (changes need --approver and --reason; "
                              "raises need a second identity's --approval).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from core_bridge.cli.limit_approval import limits_approve

    app.command()(kill)
    app.command()(resume)
    app.command("cancel-all")(cancel_all)
    limits_app.command("approve")(limits_approve)
    app.add_typer(limits_app, name="limits")


FIRM = typer.Option(False, "--firm", help="The whole firm.")
ACCOUNT = typer.Option(None, "--account", "-a", help="One account, e.g. PROP01.")
SYMBOL = typer.Option(None, "--symbol", "-s", help="One symbol, e.g. AAPL.")
VENUE = typer.Option(None, "--venue", "-v", help="One venue: NSDQ, NYSE or ARCA.")
IDEM = typer.Option(None, "--id", help="Idempotency key: re-running with the same key and arguments applies once.")
WAIT_DURABLE = typer.Option(False, "--wait-durable",
                            help="Also wait until the core says the change is on its disk (a kill is acked as soon "
                                 "as it is applied, before it is durable). Exit 6 if that is not confirmed in time.")


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
    wait_durable: bool = WAIT_DURABLE,
    flatten: bool = typer.Option(False, "--flatten",
                                 help="Kill to flat: HALTED, cancel-all, wait until the drop copy confirms every "
                                      "resting order gone per venue, send exposure-reducing orders, and exit 0 only "
                                      "when the drop copy says the scope's positions are zero (else exit 7 with what "
                                      "is still open). Timeline under reports/<date>/kills/. Not for --venue."),
    cancel_deadline: float = typer.Option(5.0, "--cancel-deadline", min=0.1,
                                          help="--flatten: seconds each venue has to confirm its cancels."),
    flat_deadline: float = typer.Option(10.0, "--flat-deadline", min=0.1,
                                        help="--flatten: seconds the flatten orders have to fill."),
    json_out: bool = JSON_OPT,
) -> None:
    """Set the kill level of one scope (firm, account, symbol or venue). Levels are set, never toggled.

    Example: corectl kill --firm --level HALTED --reason "runaway algo, INC-123". Working orders stay
    working: follow with `corectl cancel-all`, or use `--flatten` to cancel and flatten in one confirmed flow.
    Exit 0 only when the core acked the new level: the ack means applied (trading is stopped);
    `--wait-durable` also waits for it to be durable on the core.
    """
    opts = json_options(ctx, json_out)
    sc = scope_or_usage(opts, firm, account, symbol, venue)
    lvl = kill_level(opts, level)
    if flatten:
        from core_bridge.cli.flatten import do_flatten

        if lvl != "HALTED" or sc[0] == "venue":
            fail(opts, ExitCode.USAGE, "usage", "--flatten sets HALTED on a firm, account or symbol scope "
                                                "(positions are not kept per venue)")
        do_flatten(opts, sc, reason, idem, cancel_deadline_s=cancel_deadline, flat_deadline_s=flat_deadline)
        return
    do_set_level(opts, sc, lvl, reason, idem, wait_durable)


def resume(
    ctx: typer.Context,
    firm: bool = FIRM,
    account: str | None = ACCOUNT,
    symbol: str | None = SYMBOL,
    venue: str | None = VENUE,
    reason: str = REASON,
    idem: str | None = IDEM,
    wait_durable: bool = WAIT_DURABLE,
    json_out: bool = JSON_OPT,
) -> None:
    """Set one scope back to ACTIVE. Other scopes keep their levels (the most restrictive one wins). The core
    acks a resume only once it is durable."""
    opts = json_options(ctx, json_out)
    do_set_level(opts, scope_or_usage(opts, firm, account, symbol, venue), "ACTIVE", reason, idem, wait_durable)


def cancel_all(
    ctx: typer.Context,
    firm: bool = FIRM,
    account: str | None = ACCOUNT,
    symbol: str | None = SYMBOL,
    venue: str | None = VENUE,
    reason: str = REASON,
    idem: str | None = IDEM,
    wait_durable: bool = WAIT_DURABLE,
    json_out: bool = JSON_OPT,
) -> None:
    """Cancel every working order in one scope. Never blocked by a kill level; does not change levels."""
    opts = json_options(ctx, json_out)
    do_cancel_all(opts, scope_or_usage(opts, firm, account, symbol, venue), reason, idem, wait_durable)


@limits_app.command("show")
def limits_show(
    ctx: typer.Context,
    account: str | None = typer.Option(None, "--account", "-a", help="Only this account (and the firm)."),
    json_out: bool = JSON_OPT,
) -> None:
    """The limits in force (firm and per account), temporary raises and their expiry, limits version."""
    opts = json_options(ctx, json_out)
    reply = with_client(opts, lambda c: c.snapshot())
    r = reply.result
    limits = r.get("limits") or {}
    if account:
        limits = {k: v for k, v in limits.items() if k in ("firm", account)}
    temp = [t for t in (r.get("temp_limits") or []) if not account or t.get("account") in (None, account)]
    doc = {"limits_version": r.get("limits_version"), "limits": limits, "temp_limits": temp,
           "state_version": reply.state_version}
    if opts.json:
        print_json(doc)
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
    approval: Path | None = typer.Option(None, "--approval",
                                         help="Four-eyes approval record from `corectl limits approve` (required "
                                              "for a raise; its expiry is used when --until is not given)."),
    idem: str | None = IDEM,
    wait_durable: bool = WAIT_DURABLE,
    json_out: bool = JSON_OPT,
) -> None:
    """Change 15c3-5 limits. Keys: max_order_qty, max_order_notional, price_collar_pct, duplicate_window_ms,
    max_orders_per_sec, credit_threshold, gross_exposure_cap, net_exposure_cap. Money as decimal text.

    Four eyes: a decrease goes straight through; a raise needs --approval, a record made by a second identity
    with `corectl limits approve`, for exactly this change, with an expiry unless an admin approved it as
    permanent. Otherwise exit 8 and nothing is sent. Temporary raises revert by themselves at --until."""
    from core_bridge.cli.limit_approval import approval_for

    opts = json_options(ctx, json_out)
    try:
        from core_bridge.client.commands import normalize_limits

        limits = normalize_limits(parse_assignments(assignments))
        until_ns = parse_until(until) if until else None
        if not approver.strip() or not reason.strip():
            raise ValueError("--approver and --reason must not be empty")
    except ValueError as exc:
        fail(opts, ExitCode.USAGE, "usage", str(exc))

    def send(c: Any) -> Any:
        nonlocal until_ns
        rec, until_ns, _ = approval_for(opts, c, account=account, limits=limits, until_ns=until_ns,
                                        approval_file=approval)
        return c.set_limits(limits, approver, reason, account=account, until_ns=until_ns, idempotency_key=idem,
                            wait_durable=wait_durable, approval=rec)

    reply = with_client(opts, send)
    doc = {"ok": True, "command": "set_limits", "account": account, "limits": reply.result.get("limits"),
           "limits_version": reply.result.get("limits_version"), "until_ns": until_ns,
           "state_version": reply.state_version, "id": reply.id, "applied": True, "durable": reply.durable,
           "durable_version": reply.durable_version}
    if opts.json:
        print_json(doc)
    else:
        print(f"ACK limits version {doc['limits_version']} for {account or 'firm'}"
              + (f" until {until}" if until else "") + f" (state version {reply.state_version}): applied"
              + (", durable" if reply.durable else f" (core durable up to state version {reply.durable_version})"))
    if wait_durable and not reply.durable:
        fail(opts, ExitCode.NOT_DURABLE, "not_durable", "applied, but the core did not confirm it durable in time")
