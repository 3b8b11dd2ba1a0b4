"""Request handling: one decoded, authenticated request in, one reply out, whatever the input.

`CommandDispatch.handle` checks version, role, idempotency (an applied id replays its original reply) and
expiry, then runs the command's handler from the engine's `handlers` table (controls.py for control state,
`_submit_orders` here for order entry, the read-only hello/status/snapshot here, and whatever the server
registers: `sim`, HA commands). Validation errors (`command_args`) become refusals with nothing applied.

Invariants (the real core keeps the same ones):
- A command id already applied is not applied again; the original reply is replayed (same state_version).
  The same id with another command, or the same command with other args, is refused MSG_ARGS_INVALID.
- Every applied mutating command bumps `state_version` and is handed to `persist` (the server's group commit);
  the server sends its reply at once for a tightening control and once durable otherwise (protocol v2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from core_bridge.auth import Identity
from core_bridge.protocol import (
    COMMAND_ROLE,
    MUTATING,
    SUPPORTED_VERSIONS,
    Command,
    Reply,
    Request,
)
from core_bridge.reasons import ReasonCode
from hw.twin.command_args import ArgsInvalid, Refused
from hw.twin.ha import HaNode
from hw.twin.orders import OrderPath, parse_order

MAX_ORDERS_PER_REQUEST = 10_000
# Kept beside an applied id's reply (and persisted and replicated with it), never sent: a digest of the
# request's args, so that the same id with other args is refused rather than acked as if it were applied.
ARGS_DIGEST_KEY = "args_digest"
_READ_ONLY = frozenset({Command.HELLO, Command.STATUS, Command.SNAPSHOT, Command.HA_STATUS,
                        Command.HA_PROMOTE, Command.HA_DEMOTE})


def args_digest(args: dict[str, Any]) -> str:
    """The same args as JSON values (key order ignored) give the same digest."""
    return hashlib.sha256(orjson.dumps(args, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class CommandDispatch(OrderPath):
    """Mixin of `engine.CoreEngine` (which initialises these fields and fills `handlers`)."""

    node: str
    ha: HaNode
    started_ns: int
    persist: Callable[[], None]
    on_applied: Callable[[Request, Reply], None]
    status_extra: Callable[[], dict[str, Any]]  # the server adds auth_failures
    handlers: dict[Command, Callable[[Request, Identity, int], dict[str, Any]]]

    # ------------------------------------------------------------------ request handling
    def handle(self, req: Request, ident: Identity, now: int) -> Reply:
        """Apply one decoded request for an authenticated identity; never raises for bad input."""
        st = self.state

        def refuse(code: ReasonCode, message: str = "") -> Reply:
            return Reply(req.id, False, code.name, st.state_version, {}, message)

        if req.v not in SUPPORTED_VERSIONS:  # hello negotiates: the refusal lists what the core speaks
            return Reply(req.id, False, ReasonCode.MSG_VERSION_UNSUPPORTED.name, st.state_version,
                         {"versions": list(SUPPORTED_VERSIONS)},
                         f"version {req.v} (core speaks {', '.join(map(str, SUPPORTED_VERSIONS))})")
        need = COMMAND_ROLE[req.cmd]
        if not ident.role.allows(need):
            return refuse(ReasonCode.AUTH_ROLE_DENIED, f"{req.cmd.value} needs {need.value}, key is {ident.role.value}")
        mutating = req.cmd in MUTATING and req.cmd not in _READ_ONLY
        if mutating:
            prior = st.applied_reply(req.id)
            if prior is not None:
                cmd, original = prior
                if cmd != req.cmd.value:
                    return refuse(ReasonCode.MSG_ARGS_INVALID, f"id already used by {cmd}")
                # Entries kept before the digest existed carry none: replayed, as they always were.
                digest = original.pop(ARGS_DIGEST_KEY, None)
                if digest is not None and digest != args_digest(req.args):
                    return refuse(ReasonCode.MSG_ARGS_INVALID, f"id already used by {cmd} with other args")
                return Reply(**original)
        if req.expires_ns < now:
            return refuse(ReasonCode.MSG_EXPIRED, f"expired {(now - req.expires_ns) // 1_000_000} ms ago")
        handler = self.handlers.get(req.cmd)
        if handler is None:
            return refuse(ReasonCode.MSG_UNKNOWN_COMMAND, f"{req.cmd.value} not served here")
        try:
            result = handler(req, ident, now)
        except ArgsInvalid as exc:
            return refuse(ReasonCode.MSG_ARGS_INVALID, str(exc))
        except Refused as exc:
            return refuse(exc.code, str(exc))
        if not mutating:
            return Reply(req.id, True, "OK", st.state_version, result)
        st.state_version += 1
        reply = Reply(req.id, True, "OK", st.state_version, result)
        st.remember(req.id, req.cmd.value, {"id": reply.id, "ok": True, "code": "OK",
                                             "state_version": reply.state_version, "result": result,
                                             ARGS_DIGEST_KEY: args_digest(req.args)},
                    req.operator, req.reason)
        self.sync_positions()
        self.persist()
        self.on_applied(req, reply)
        return reply

    def _hello(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        # `protocol`: the version this exchange speaks (the request's); `versions`: every one the core serves
        return {"protocol": req.v, "versions": list(SUPPORTED_VERSIONS), "core_id": f"twin-{self.node}",
                "node": self.node, "epoch": self.epoch, "identity": ident.name, "role": ident.role.value}

    def _ha_unchanged(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        return {**self.ha.status(self.epoch), "changed": False}

    def status(self, now: int) -> dict[str, Any]:
        st = self.state
        return {
            "node": self.node,
            "ha_role": self.ha.ha_role,
            "trading_state": st.kill_firm.name,
            "kill": st.kill_json(),
            "last_seq": self.seq,
            "epoch": self.epoch,
            "limits_version": st.limits_version,
            "state_version": st.state_version,
            "state_unknown": st.state_unknown,
            "orders_working": len(self.orders),
            "uptime_s": max(0, now - self.started_ns) // 1_000_000_000,
            "core_time_ns": now,
            **self.status_extra(),
        }

    def snapshot(self, now: int) -> dict[str, Any]:
        st = self.state
        self.sync_positions()
        return {
            **self.status(now),
            "limits": st.limits,
            "temp_limits": [{"account": t["account"], "limits": t["limits"], "until_ns": t["until_ns"],
                             "approved_by": t.get("approved_by")} for t in st.temp_limits],
            "bp": st.bp,
            "bp_as_of_ns": st.bp_as_of_ns,
            "locates": st.locates,
            "locates_date": st.locates_date,
            "restricted": sorted(st.restricted),
            "preborrow_required": st.preborrow_required,
            "preborrow_date": st.preborrow_date,
            "halts": st.halts,
            "mwcb_level": st.mwcb_level,
            "positions": st.positions,
            "sod_date": st.sod_date,
            "accounts": sorted(self.known_accounts()),
        }

    def _submit_orders(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        orders = req.args.get("orders")
        if not isinstance(orders, list) or not orders or len(orders) > MAX_ORDERS_PER_REQUEST:
            raise ArgsInvalid(f"orders must be a list of 1..{MAX_ORDERS_PER_REQUEST} orders")
        results = []
        for raw in orders:
            try:
                o = parse_order(raw)
            except ValueError as exc:
                cl = raw.get("clordid") if isinstance(raw, dict) and isinstance(raw.get("clordid"), int) else 0
                results.append({"clordid": cl, "order_id": 0, "ok": False, "code": ReasonCode.ORDER_INVALID.name,
                                "message": str(exc)})
                continue
            oid, rc = self.submit(o, now)
            results.append({"clordid": o.clordid, "order_id": oid, "ok": rc is ReasonCode.OK, "code": rc.name})
        return {"results": results}
