"""The control-plane client: the one way colo-ops sends control commands to the core.

Why it is split like this: every command must get the same deadlines, retries, HA following and audit
trail, so those live once, under the per-command methods:

    commands     `CoreClient`: one method per command (argument building, limit validation)
    transport    `ControlChannel`: the DEALER socket, deadlines, Lazy Pirate retries, HA following, `call`
    audit_trail  what the audit log records of each attempt (write-ahead SENT line, outcome, digests)
    ids          wire ids from idempotency keys (`derive_id`, `fresh_id`)
    keyfile      reading CURVE certificate files without core_bridge.auth's server-side imports

Cheap to import: zmq, orjson, the stdlib and light core_bridge modules only (`corectl kill` is a cold
process). New code imports from the modules above; the names below are re-exported so that
`core_bridge.client.X` keeps working for code that still uses it (core_bridge.telemetry reads key files
through `read_curve_key`).
"""

from core_bridge.client.audit_trail import AUDIT_ARGS_MAX, audit_args
from core_bridge.client.commands import LIMIT_KEYS, CoreClient, normalize_limits
from core_bridge.client.ids import MAX_ID_LEN, derive_id, fresh_id
from core_bridge.client.keyfile import read_curve_key
from core_bridge.client.transport import (
    AUTH_FAILURE_EVENTS,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS,
    FOLLOW_CODES,
    PASSIVE_PAUSE_S,
    ControlChannel,
)

__all__ = [
    "AUDIT_ARGS_MAX",
    "AUTH_FAILURE_EVENTS",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_MS",
    "FOLLOW_CODES",
    "LIMIT_KEYS",
    "MAX_ID_LEN",
    "PASSIVE_PAUSE_S",
    "ControlChannel",
    "CoreClient",
    "audit_args",
    "derive_id",
    "fresh_id",
    "normalize_limits",
    "read_curve_key",
]
