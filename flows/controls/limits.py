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
