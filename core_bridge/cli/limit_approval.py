"""Four eyes for `corectl limits set`: `corectl limits approve` (the approver, with their own key) and the
requester-side check of the approval record before a raise is sent (core_bridge/approvals.py has the rule).

A decrease never needs a record. A raise without one, or with one that fails a check, exits 8 (UNAPPROVED)
naming the field at fault, and nothing is sent to the core.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from core_bridge.cli.common import ExitCode, Options, fail, json_options, parse_assignments, parse_until, print_json
from core_bridge.cli.params import JSON_OPT, REASON


def _registry(opts: Options) -> Any:
    from core_bridge.auth import KeyRegistry

    keys = opts.resolved_keys_dir()
    return KeyRegistry.load(keys) if (keys / "roles.json").is_file() else None


def approval_for(opts: Options, client: Any, *, account: str | None, limits: dict[str, Any], until_ns: int | None,
                 approval_file: Path | None) -> tuple[dict[str, Any] | None, int | None, list[str]]:
    """(the approval record to send, the until_ns to send, the raised keys); exits 8 when a raise is not
    validly approved. With a record and no --until, the record's expiry is used."""
    from core_bridge.approvals import check_approval, load_approval, raised_keys
    from core_bridge.errors import ApprovalError

    rec = None
    try:
        if approval_file is not None:
            rec = load_approval(approval_file)
            if until_ns is None:
                until_ns = rec.get("until_ns")
    except ApprovalError as exc:
        fail(opts, ExitCode.UNAPPROVED, "four_eyes", str(exc))
    snap = client.snapshot().result
    firm = (snap.get("limits") or {}).get("firm") or {}
    before = {**firm, **((snap.get("limits") or {}).get(account) or {})} if account else dict(firm)
    raised = raised_keys(before, limits)
    if not raised:
        return rec, until_ns, raised
    if rec is None:
        fail(opts, ExitCode.UNAPPROVED, "four_eyes",
             f"raising {', '.join(raised)} needs an approval by a second identity: the approver runs "
             "`corectl --key <their key> limits approve <same KEY=VALUE> [--account A] --until T --reason R` and "
             "you pass the file it writes with --approval (a permanent raise needs an admin's approval)",
             {"raised": raised})
    try:
        check_approval(rec, requester_identity=opts.key, account=account, limits=limits, until_ns=until_ns,
                       now_ns=time.time_ns(), registry=_registry(opts))
    except ApprovalError as exc:
        fail(opts, ExitCode.UNAPPROVED, "four_eyes", str(exc), {"raised": raised, "field": exc.field})
    return rec, until_ns, raised


def limits_approve(
    ctx: typer.Context,
    assignments: list[str] = typer.Argument(..., help="The exact change approved, KEY=VALUE as for `limits set`."),
    approver: str = typer.Option(..., "--approver", help="Your name, as the approver (required)."),
    reason: str = REASON,
    account: str | None = typer.Option(None, "--account", "-a", help="Account limits (default: firm limits)."),
    until: str | None = typer.Option(None, "--until", help="The raise's expiry: HH:MM (New York), +30m, or ISO."),
    permanent: bool = typer.Option(False, "--permanent", help="Approve a permanent raise (admin keys only)."),
    valid_for: int = typer.Option(4 * 3600, "--valid-for", min=60, help="Seconds the approval stays usable."),
    out: Path | None = typer.Option(None, "--out", help="Where to write it (default <home>/approvals/<id>.json)."),
    json_out: bool = JSON_OPT,
) -> None:
    """Approve a limit raise someone else will make (four eyes): writes a record signed with your key (--key)
    naming exactly this change. Give it to the requester for `corectl limits set ... --approval FILE`. Either
    --until or --permanent is required; the core accepts a permanent raise only on an admin's approval."""
    from core_bridge.approvals import make_approval, save_approval
    from core_bridge.client.commands import normalize_limits
    from core_bridge.errors import ApprovalError, ConfigError

    opts = json_options(ctx, json_out)
    try:
        limits = normalize_limits(parse_assignments(assignments))
        if (until is None) == (not permanent):
            raise ValueError("give exactly one of --until (a temporary raise) or --permanent")
        until_ns = parse_until(until) if until else None
        rec = make_approval(opts.resolved_keys_dir(), opts.key, approver=approver, account=account, limits=limits,
                            until_ns=until_ns, reason=reason, now_ns=time.time_ns(), valid_s=valid_for)
    except (ValueError, ApprovalError) as exc:
        fail(opts, ExitCode.USAGE, "usage", str(exc))
    except ConfigError as exc:
        fail(opts, ExitCode.CONFIG, "config", str(exc))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(__import__("json").dumps(rec, indent=2, sort_keys=True) + "\n")
        path = out
    else:
        path = save_approval(Path(opts.settings().home), rec)
    _audit_approval(opts, rec, reason)
    doc = {"ok": True, "approval_id": rec["approval_id"], "identity": rec["identity"], "file": str(path),
           "expires_ns": rec["expires_ns"], "until_ns": rec["until_ns"], "account": account, "limits": limits}
    if opts.json:
        print_json(doc)
    else:
        print(f"approval {rec['approval_id']} by {rec['identity']} written to {path}")


def _audit_approval(opts: Options, rec: dict[str, Any], reason: str) -> None:
    """The approval is a control action: one audit line (who approved what, why), made durable."""
    from core_bridge.audit import AuditLog, AuditRecord, default_path

    log = AuditLog(default_path(Path(opts.settings().home)))
    try:
        log.append(AuditRecord(
            operator=opts.operator or opts.settings().operator, identity=opts.key, role=None,
            command="approve_limits", scope=None, key=rec["account"], reason=reason,
            args={k: v for k, v in rec.items() if k != "mac"}, result="ok", code=None, state_version=None,
            id=f"approval-{rec['approval_id']}", endpoint="local"))
    finally:
        log.close()
