"""Push the firm's approved 15c3-5 limits (infra/limits.toml) to the core, with approver and reason.

The file is the record of what was approved; the core's LIMITS_CHANGED events and the control audit log
record when it was applied. Idempotent per file content: the same file pushed twice is applied once.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings

LIMITS_FILE = Path(__file__).resolve().parents[2] / "infra" / "limits.toml"


def load_limits(path: Path = LIMITS_FILE) -> dict[str, Any]:
    doc = tomllib.loads(path.read_text())
    for key in ("approver", "reason", "firm"):
        if key not in doc:
            raise ValueError(f"{path}: missing {key!r}")
    return doc


def push_limits(settings: Settings, path: Path = LIMITS_FILE) -> dict[str, int]:
    """Apply firm limits, then each account's overrides; returns {scope: limits_version acked}."""
    from core_bridge.client.commands import CoreClient

    doc = load_limits(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    out: dict[str, int] = {}
    with CoreClient.from_settings(identity="operator", operator="limits-push", settings=settings) as c:
        r = c.set_limits(doc["firm"], doc["approver"], doc["reason"], idempotency_key=f"limits:{digest}:firm")
        out["firm"] = int(r.result.get("limits_version", 0))
        for acct, limits in sorted((doc.get("accounts") or {}).items()):
            r = c.set_limits(limits, doc["approver"], doc["reason"], account=acct,
                             idempotency_key=f"limits:{digest}:{acct}")
            out[acct] = int(r.result.get("limits_version", 0))
    return out


def _effective(doc: dict[str, Any], scope: str) -> dict[str, Any]:
    firm = dict(doc.get("firm") or {})
    return firm if scope == "firm" else {**firm, **(doc.get(scope) or {})}


def _explained_by_audit(audit: list[dict[str, Any]], account: str | None, key: str, value: Any,
                        roles: dict[str, str], *, needs_approval: bool) -> dict[str, Any] | None:
    """The latest acked set_limits that set `key` to `value` for the scope (with a valid approval when the
    change was a raise: a second identity, admin for a permanent one)."""
    for rec in reversed(audit):
        args = rec.get("args") or {}
        if rec.get("command") != "set_limits" or rec.get("result") != "ok" or args.get("account") != account:
            continue
        if key not in (args.get("limits") or {}):
            continue
        if str((args.get("limits") or {})[key]) != str(value):
            return None  # the latest change of the key set another value: this one is not explained by it
        if not needs_approval:
            return rec
        approval = args.get("approval") if isinstance(args.get("approval"), dict) else None
        if approval is None or approval.get("identity") == rec.get("identity"):
            return None
        if args.get("until_ns") is None and roles.get(str(approval.get("identity"))) != "admin":
            return None
        return rec
    return None


def reconcile_limits(approved: dict[str, Any], snapshot: dict[str, Any], audit: list[dict[str, Any]],
                     roles: dict[str, str]) -> list[Any]:
    """Approved file vs the core's runtime limits at the open: every difference is a finding unless an approval
    explains it. Looser than approved: explained by a pending temporary raise the core accepted with an
    approval record, or an audited raise with a valid approval — else `fail`. Tighter: explained by an audited
    change (decreases need no approval) — else `warn`."""
    from core_bridge.approvals import less_restrictive
    from flows.checks.preopen import Finding

    file_doc = {"firm": approved["firm"], **(approved.get("accounts") or {})}
    runtime = snapshot.get("limits") or {}
    temps = snapshot.get("temp_limits") or []
    out: list[Finding] = []
    for scope in sorted(set(file_doc) | set(runtime), key=lambda s: (s != "firm", s)):
        want, have = _effective(file_doc, scope), _effective(runtime, scope)
        account = None if scope == "firm" else scope
        # an account's keys that only follow the firm's are the firm's difference, reported once there
        own = set(file_doc.get(scope) or {}) | set(runtime.get(scope) or {})
        keys = set(want) | set(have) if scope == "firm" else own
        for key in sorted(keys):
            a, b = want.get(key), have.get(key)
            if str(a) == str(b):
                continue
            looser = less_restrictive(key, b, a)
            temp = next((t for t in temps if t.get("account") == account and key in (t.get("limits") or {})
                         and str(t["limits"][key]) == str(b) and t.get("approved_by")), None)
            rec = _explained_by_audit(audit, account, key, b, roles, needs_approval=looser)
            what = f"{scope}.{key}: approved {a}, core {b}"
            if temp is not None:
                out.append(Finding("limits-reconcile", "ok", f"{what} (temporary raise approved by "
                                                             f"{temp['approved_by']})"))
            elif rec is not None:
                out.append(Finding("limits-reconcile", "ok", f"{what} (audited change {rec.get('id')} by "
                                                             f"{rec.get('operator')})"))
            else:
                out.append(Finding("limits-reconcile", "fail" if looser else "warn",
                                   f"{what}: {'looser' if looser else 'tighter'} than approved and no "
                                   f"{'approval' if looser else 'audited change'} explains it"))
    if not out:
        out.append(Finding("limits-reconcile", "ok", "runtime limits are the approved file's"))
    return out
