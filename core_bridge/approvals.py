"""Four eyes on 15c3-5 limit raises: signed approval records.

Rule (docs/compliance.md): a change that loosens any limit (a raise; for `duplicate_window_ms` a shorter
window) needs an approval record made by a CURVE identity other than the requester's, and an expiry — unless
it is a permanent change, which only an approval by an `admin` identity allows. Decreases never need one.

The approver makes the record with their own key (`corectl --key <them> limits approve ...`); it names the
exact change (account, limits, until_ns) and is valid for a short while (`expires_ns`). Its `mac` is
`core_bridge.auth.approval_mac` under the approver's secret and the core's public key, so the requester cannot
make or alter one, and the core (which holds its own secret) can check it. The requester passes it to
`corectl limits set --approval FILE`; corectl checks everything it can see without the core's secret
(`check_approval`), then sends the record with the change and the core checks the MAC as well.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

from core_bridge.auth import APPROVAL_FIELDS, KeyRegistry, approval_mac, approval_payload, client_keypair, server_public
from core_bridge.errors import ApprovalError, ConfigError
from core_bridge.protocol import LIMITS_TIGHTER_WHEN_HIGHER

APPROVAL_VERSION = 1
APPROVALS_DIR = Path("approvals")  # under COLO_OPS_HOME: every record made on this host, kept as evidence
DEFAULT_VALID_S = 4 * 3600  # an approval not used within this long must be made again


def less_restrictive(key: str, new: int | str | None, old: int | str | None) -> bool:
    """True when `new` lets more through than `old` (a raise); a key set for the first time counts as one."""
    if new is None:
        return False
    if old is None:
        return True
    n, o = Decimal(str(new)), Decimal(str(old))
    return n < o if key in LIMITS_TIGHTER_WHEN_HIGHER else n > o


def raised_keys(effective_before: dict[str, Any], change: dict[str, Any]) -> list[str]:
    """The keys of `change` that loosen the limits in force (empty: a decrease or no change)."""
    return sorted(k for k, v in change.items() if less_restrictive(k, v, effective_before.get(k)))


def make_approval(keys_dir: Path, identity: str, *, approver: str, account: str | None, limits: dict[str, Any],
                  until_ns: int | None, reason: str, now_ns: int, valid_s: int = DEFAULT_VALID_S) -> dict[str, Any]:
    """A signed approval record for exactly this change, made with `identity`'s key."""
    if not approver.strip() or not reason.strip():
        raise ApprovalError("an approval needs the approver's name and a reason", "approver")
    kp = client_keypair(keys_dir, identity)
    if kp.secret is None:
        raise ConfigError("approver key has no secret", keys_dir / "clients" / identity)
    rec: dict[str, Any] = {
        "v": APPROVAL_VERSION, "approval_id": secrets.token_hex(8), "identity": identity,
        "public_key": kp.public.decode(), "approver": approver, "account": account,
        "limits": dict(sorted(limits.items())), "until_ns": until_ns, "reason": reason,
        "expires_ns": now_ns + valid_s * 1_000_000_000,
    }
    rec["mac"] = approval_mac(kp.secret, server_public(keys_dir), approval_payload(rec))
    return rec


def save_approval(home: Path, rec: dict[str, Any]) -> Path:
    path = home / APPROVALS_DIR / f"{rec['approval_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    return path


def load_approval(path: Path) -> dict[str, Any]:
    try:
        rec = json.loads(path.read_text())
    except OSError as exc:
        raise ApprovalError(f"cannot read {path}: {exc.strerror}", "approval") from None
    except ValueError as exc:
        raise ApprovalError(f"{path} is not JSON: {exc}", "approval") from None
    if not isinstance(rec, dict):
        raise ApprovalError(f"{path} is not an approval record", "approval")
    for k in (*APPROVAL_FIELDS, "mac"):
        if k not in rec:
            raise ApprovalError(f"{path} has no {k!r}", k)
    return rec


def check_approval(rec: dict[str, Any], *, requester_identity: str, account: str | None, limits: dict[str, Any],
                   until_ns: int | None, now_ns: int, registry: KeyRegistry | None) -> None:
    """Everything about the record the requester's host can check; raises ApprovalError naming the field."""
    if rec.get("v") != APPROVAL_VERSION:
        raise ApprovalError(f"unsupported approval version {rec.get('v')!r}", "v")
    if rec["identity"] == requester_identity:
        raise ApprovalError(f"approved by {requester_identity!r}, the requester's own key: four eyes need a "
                            "second identity", "identity")
    if rec["account"] != account:
        raise ApprovalError(f"approval is for {rec['account'] or 'the firm'}, change is for {account or 'the firm'}",
                            "account")
    if dict(sorted(rec["limits"].items())) != dict(sorted(limits.items())):
        raise ApprovalError(f"approved limits {rec['limits']} differ from the change {limits}", "limits")
    if rec["until_ns"] != until_ns:
        raise ApprovalError("approved expiry differs from the change's --until", "until_ns")
    if int(rec["expires_ns"]) <= now_ns:
        raise ApprovalError("the approval has expired; ask for a new one", "expires_ns")
    role = None
    if registry is not None:
        ident = registry.lookup(str(rec["public_key"]))
        if ident is None or ident.name != rec["identity"]:
            raise ApprovalError(f"key of {rec['identity']!r} is not the one roles.json lists", "public_key")
        role = ident.role.value
    if until_ns is None and role != "admin":
        raise ApprovalError("a permanent raise needs an admin's approval (or give --until for a temporary one)",
                            "until_ns")


def verify_mac(rec: dict[str, Any], core_secret_z85: bytes) -> bool:
    """The core's check: the MAC is the approver's (needs the core's secret key)."""
    import hmac

    want = approval_mac(core_secret_z85, str(rec["public_key"]).encode(), approval_payload(rec))
    return hmac.compare_digest(want, str(rec.get("mac", "")))
