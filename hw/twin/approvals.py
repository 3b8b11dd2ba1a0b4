"""The core's check of a four-eyes approval record sent with a limit change (core_bridge/approvals.py).

The core holds its own secret key, so it is the one place that can check the record's MAC
(`core_bridge.auth.approval_mac`, X25519 of its secret with the approver's public key). It also checks what
the sender could have fudged: the approver's key is in roles.json under that name, differs from the sender's,
the record names exactly this change, has not expired, and a permanent change is approved by an admin.
A refusal is LIMIT_APPROVAL_INVALID with the field at fault; nothing is applied.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from core_bridge.auth import Identity, KeyRegistry, approval_mac, approval_payload
from core_bridge.protocol import Role
from core_bridge.reasons import ReasonCode
from hw.twin.command_args import Refused
from hw.twin.state import normalize_limit


@dataclass(frozen=True)
class ApprovalKeys:
    core_secret: bytes  # z85
    registry: KeyRegistry


def _refuse(field: str, message: str) -> Refused:
    return Refused(ReasonCode.LIMIT_APPROVAL_INVALID, f"approval {field}: {message}")


def check_approval(rec: Any, keys: ApprovalKeys | None, *, sender: Identity, account: str | None,
                   limits: dict[str, int | str], until_ns: int | None, now_ns: int) -> Identity:
    """The approver's identity, or Refused naming what is wrong."""
    if keys is None:
        raise _refuse("keys", "this core has no key material to check approvals")
    if not isinstance(rec, dict):
        raise _refuse("record", "must be an object")
    pub = rec.get("public_key")
    approver = keys.registry.lookup(pub) if isinstance(pub, str) else None
    if approver is None or approver.name != rec.get("identity"):
        raise _refuse("identity", "the approver's key is not in the core's key list under that name")
    want = approval_mac(keys.core_secret, pub.encode(), approval_payload(rec))  # type: ignore[union-attr]
    if not hmac.compare_digest(want, str(rec.get("mac", ""))):
        raise _refuse("mac", "does not verify with the approver's key")
    if approver.name == sender.name:
        raise _refuse("identity", "approved by the sender's own key (four eyes need a second identity)")
    if not approver.role.allows(Role.OPERATOR):
        raise _refuse("identity", f"{approver.name} has role {approver.role.value}, below operator")
    try:
        approved = {str(k): normalize_limit(str(k), v) for k, v in dict(rec.get("limits") or {}).items()}
    except ValueError as exc:
        raise _refuse("limits", str(exc)) from None
    if rec.get("account") != account or approved != limits or rec.get("until_ns") != until_ns:
        raise _refuse("change", "the record approves a different change (account, limits or expiry)")
    expires = rec.get("expires_ns")
    if not isinstance(expires, int) or expires <= now_ns:
        raise _refuse("expires_ns", "the approval has expired")
    if until_ns is None and not approver.role.allows(Role.ADMIN):
        raise _refuse("until_ns", "a permanent raise needs an admin's approval")
    return approver
