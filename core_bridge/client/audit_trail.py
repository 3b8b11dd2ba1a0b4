"""What the control audit log records of one command attempt (core_bridge.audit writes it).

Why here, at the client: every mutating command attempt and every failed read is audited where it is
sent, so corectl and the flows are audited the same way. A mutating command gets a write-ahead SENT line
before it leaves and an outcome line after; bulk arguments are kept as a digest, not verbatim.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from core_bridge.audit import SENT, AuditRecord, utc_text
from core_bridge.errors import AuthRefusedError, NoAckError, ProtocolError
from core_bridge.protocol import Command, Reply

AUDIT_ARGS_MAX = 16 * 1024  # bytes of JSON kept verbatim per audit line


@dataclass(frozen=True, slots=True)
class Attempt:
    """One command as the audit log records it."""

    command: Command
    args: dict[str, Any]
    reason: str
    req_id: str
    t0: float  # perf_counter at the start, for elapsed_ms


@dataclass(slots=True)
class Outcome:
    reply: Reply | None
    attempts: int
    endpoint: str
    applied_ns: int | None = None  # when the ack arrived (UTC ns)
    durable_ns: int | None = None  # when the core's change was known durable (the ack, or its follow-up)


def attempt_record(att: Attempt, outcome: Outcome | None, error: Exception | None, *, operator: str,
                   identity: str, role: str | None, endpoint: str, phase: str = "outcome") -> AuditRecord:
    """The audit line of one attempt: `phase` SENT before it leaves, else its outcome (ok, refused, no ack,
    bad reply). `endpoint` is where the client points now, for an error that does not name one."""
    command, args = att.command, att.args
    reply = outcome.reply if outcome else None
    if phase == SENT:
        result = SENT
    elif error is None:
        result = "ok"
    elif isinstance(error, NoAckError):
        result = "no_ack"
    elif isinstance(error, ProtocolError):
        result = "bad_reply"
    else:
        result = "refused"
    return AuditRecord(
        operator=operator,
        identity=identity,
        role=role,
        command=command.value,
        scope=args.get("scope"),
        key=audit_key(args),
        reason=att.reason,
        args=audit_args(args),
        result=result,
        code=reply.code if reply else ("AUTH_UNKNOWN_KEY" if isinstance(error, AuthRefusedError) else None),
        state_version=reply.state_version if reply else None,
        id=att.req_id,
        endpoint=outcome.endpoint if outcome else getattr(error, "endpoint", endpoint),
        attempts=outcome.attempts if outcome else getattr(error, "attempts", None),
        elapsed_ms=None if phase == SENT else round((time.perf_counter() - att.t0) * 1000, 3),
        message=(reply.message if reply and reply.message else str(error) if error else ""),
        phase=phase,
        applied_ns=outcome.applied_ns if outcome and reply and reply.ok else None,
        durable_ns=outcome.durable_ns if outcome and reply and reply.ok else None,
        durable_version=reply.durable_version if reply else None,
    )


class LineEncoder:
    """The kill path's audit lines, cheap to build: the sent line `attempt_record(...).to_json()` gives, with
    the fields fixed for a client (operator, key name, role, endpoint) encoded once, and a slim ok-outcome
    line. Each costs a couple of microseconds of CPU on a host whose cores the core's own round trip needs
    (a test keeps them equal to the records, once merged)."""

    def __init__(self, operator: str, identity: str, role: str | None) -> None:
        self._static = {"operator": operator, "identity": identity, "role": role}
        self._prefixes: dict[str, bytes] = {}  # endpoint -> b'{"operator":...,"endpoint":"...",'

    def _prefix(self, endpoint: str) -> bytes:
        prefix = self._prefixes.get(endpoint)
        if prefix is None:
            prefix = self._prefixes[endpoint] = orjson.dumps(self._static | {"endpoint": endpoint})[:-1] + b","
        return prefix

    def sent(self, att: Attempt, endpoint: str, ts_ns: int | None = None) -> bytes:
        """The whole sent line: who, which key, what, why, the id."""
        args = att.args
        ts = time.time_ns() if ts_ns is None else ts_ns
        dyn = orjson.dumps({
            "utc": utc_text(ts), "command": att.command.value, "scope": args.get("scope"),
            "key": audit_key(args), "reason": att.reason,
            "args": audit_args(args), "result": SENT, "code": None, "state_version": None, "id": att.req_id,
            "attempts": None, "elapsed_ms": None, "message": "", "phase": SENT, "applied_ns": None,
            "durable_ns": None, "durable_version": None, "ts_ns": ts,
        }, option=orjson.OPT_APPEND_NEWLINE)
        return self._prefix(endpoint) + dyn[1:]

    @staticmethod
    def ok(att: Attempt, outcome: Outcome, elapsed_ms: float, ts_ns: int) -> bytes:
        """The outcome line of an ok ack whose sent line is already in the log: only what the reply added
        (readers merge it over the sent line: `read_audit`), about half the bytes of a whole line."""
        reply = outcome.reply
        assert reply is not None
        return orjson.dumps({
            "utc": utc_text(ts_ns), "id": att.req_id, "phase": "outcome", "result": "ok", "code": reply.code,
            "state_version": reply.state_version, "endpoint": outcome.endpoint, "attempts": outcome.attempts,
            "elapsed_ms": elapsed_ms, "message": reply.message or "", "applied_ns": outcome.applied_ns,
            "durable_ns": outcome.durable_ns, "durable_version": reply.durable_version, "ts_ns": ts_ns,
        }, option=orjson.OPT_APPEND_NEWLINE)


def audit_key(args: dict[str, Any]) -> Any:
    """What a line names the command's target by: the scope's key, else the account."""
    return args.get("key") if "scope" in args else args.get("account")


def audit_args(args: dict[str, Any]) -> dict[str, Any]:
    """Arguments as the audit log keeps them: verbatim when small; for bulk pushes (SOD positions, order
    batches) a SHA-256 of the exact wire arguments plus sizes, so a line stays small and still proves what
    was sent (the source file itself is kept by the flow that pushed it)."""
    raw = orjson.dumps(args, option=orjson.OPT_SORT_KEYS)
    if len(raw) <= AUDIT_ARGS_MAX:
        return args
    sizes = {k: (len(v) if isinstance(v, dict | list) else v) for k, v in args.items()}
    return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw), "summary": sizes}
