"""CoreClient: the one way colo-ops sends control commands to the core, one method per command.

Why the split: the methods here only build each command's arguments (validated, in wire form) and say
which role it needs; sending, deadlines, retries, HA following and auditing are the transport's
(core_bridge.client.transport), so every command gets them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core_bridge.audit import AuditLog, default_path
from core_bridge.client.transport import ControlChannel
from core_bridge.protocol import COMMAND_ROLE, Command, KillLevel, KillScope, Reply, Role

# 15c3-5 limit keys and how their values travel (protocol schema block): ints as JSON ints, decimals as text.
LIMIT_KEYS: dict[str, type] = {
    "max_order_qty": int,
    "max_order_notional": str,
    "price_collar_pct": str,
    "duplicate_window_ms": int,
    "max_orders_per_sec": int,
    "credit_threshold": str,
    "gross_exposure_cap": str,
    "net_exposure_cap": str,
}


class CoreClient(ControlChannel):
    """Control-socket client: one method per command of the protocol's schema block.

    Constructor arguments (endpoints, keys_dir, identity, operator, timeout_ms, retries, audit, context): see
    ControlChannel. Not thread-safe: a ZeroMQ socket belongs to one thread at a time; use one client per thread.
    """

    @classmethod
    def from_settings(
        cls, *, identity: str = "operator", operator: str | None = None, settings: Any = None, **kw: Any
    ) -> CoreClient:
        """A client for the configured core: primary control endpoint first, then the standby."""
        from core_bridge.settings import load_settings

        s = settings or load_settings()
        endpoints = [s.core_endpoint("control"), s.core_endpoint("control", node="standby")]
        return cls(endpoints, s.keys_dir, identity=identity, operator=operator or s.operator,
                   audit=AuditLog(default_path(s.home)) if kw.pop("audit", True) else False, **kw)

    @staticmethod
    def needed_role(cmd: Command | str) -> Role:
        return COMMAND_ROLE[Command(cmd)]

    # --- one method per command ------------------------------------------------------------------------
    def hello(self) -> Reply:
        return self.call(Command.HELLO)

    def status(self) -> Reply:
        return self.call(Command.STATUS)

    def snapshot(self) -> Reply:
        return self.call(Command.SNAPSHOT)

    def set_kill(
        self,
        scope: KillScope | str,
        key: str | None,
        level: KillLevel | str,
        reason: str,
        *,
        idempotency_key: str | None = None,
        wait_durable: bool = False,
    ) -> Reply:
        """Set (never toggle) the kill level of one scope; `key` is None for the firm scope. A raise is acked
        when applied (`reply.durable` may be False); `wait_durable` also waits for the core's durable note."""
        sc = KillScope(scope)
        lv = level if isinstance(level, KillLevel) else KillLevel[str(level).upper()]
        if (sc is KillScope.FIRM) != (key is None):
            raise ValueError("key must be None for the firm scope and given for account/symbol/venue")
        args = {"scope": sc.value, "key": key, "level": lv.name}
        return self.call(Command.SET_KILL, args, reason=reason, idempotency_key=idempotency_key,
                         wait_durable=wait_durable)

    def cancel_all(
        self, scope: KillScope | str, key: str | None, reason: str, *, idempotency_key: str | None = None,
        wait_durable: bool = False,
    ) -> Reply:
        sc = KillScope(scope)
        if (sc is KillScope.FIRM) != (key is None):
            raise ValueError("key must be None for the firm scope and given for account/symbol/venue")
        args = {"scope": sc.value, "key": key}
        return self.call(Command.CANCEL_ALL, args, reason=reason, idempotency_key=idempotency_key,
                         wait_durable=wait_durable)

    def set_limits(
        self,
        limits: Mapping[str, Any],
        approver: str,
        reason: str,
        account: str | None = None,
        until_ns: int | None = None,
        *,
        idempotency_key: str | None = None,
        wait_durable: bool = False,
        approval: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Change 15c3-5 limits (partial); `until_ns` makes it a temporary change the core reverts itself;
        `approval` is the four-eyes record of a raise (core_bridge/approvals.py), checked by the core."""
        if not approver or not reason:
            raise ValueError("a limit change needs an approver and a reason")
        args: dict[str, Any] = {
            "account": account,
            "limits": normalize_limits(limits),
            "approver": approver,
            "until_ns": until_ns,
        }
        if approval is not None:
            args["approval"] = dict(approval)
        return self.call(Command.SET_LIMITS, args, reason=reason, idempotency_key=idempotency_key,
                         wait_durable=wait_durable)

    def set_bp(
        self, bp: Mapping[str, Any], as_of_ns: int, reason: str = "", *, idempotency_key: str | None = None
    ) -> Reply:
        args = {"bp": {k: str(v) for k, v in bp.items()}, "as_of_ns": as_of_ns}
        return self.call(Command.SET_BP, args, reason=reason, idempotency_key=idempotency_key)

    def set_locates(
        self, date: str, locates: Mapping[str, int], reason: str = "", *, idempotency_key: str | None = None
    ) -> Reply:
        args = {"date": date, "locates": {k: int(v) for k, v in locates.items()}}
        return self.call(Command.SET_LOCATES, args, reason=reason, idempotency_key=idempotency_key)

    def set_restricted(
        self, symbols: Sequence[str], reason: str = "", *, idempotency_key: str | None = None
    ) -> Reply:
        args = {"symbols": list(symbols)}
        return self.call(Command.SET_RESTRICTED, args, reason=reason, idempotency_key=idempotency_key)

    def set_preborrow(
        self, date: str, symbols: Mapping[str, int], reason: str = "", *, idempotency_key: str | None = None
    ) -> Reply:
        """The Rule 204(b) penalty box, whole: symbol -> shares pre-borrowed for the firm (0: none yet)."""
        args = {"date": date, "symbols": {k: int(v) for k, v in symbols.items()}}
        return self.call(Command.SET_PREBORROW, args, reason=reason, idempotency_key=idempotency_key)

    def set_halts(
        self,
        halts: Mapping[str, str],
        mwcb_level: int = 0,
        reason: str = "",
        *,
        idempotency_key: str | None = None,
    ) -> Reply:
        args = {"halts": dict(halts), "mwcb_level": int(mwcb_level)}
        return self.call(Command.SET_HALTS, args, reason=reason, idempotency_key=idempotency_key)

    def set_sod_positions(
        self,
        date: str,
        positions: Mapping[str, Mapping[str, int]],
        reason: str = "",
        *,
        idempotency_key: str | None = None,
    ) -> Reply:
        args = {"date": date, "positions": {a: {s: int(q) for s, q in p.items()} for a, p in positions.items()}}
        return self.call(Command.SET_SOD_POSITIONS, args, reason=reason, idempotency_key=idempotency_key)

    def submit_orders(
        self, orders: Sequence[Mapping[str, Any]], reason: str = "", *, idempotency_key: str | None = None
    ) -> Reply:
        args = {"orders": [dict(o) for o in orders]}
        return self.call(Command.SUBMIT_ORDERS, args, reason=reason, idempotency_key=idempotency_key)

    def sim(self, action: str, reason: str = "", **params: Any) -> Reply:
        """Twin-only simulator control (a real core answers MSG_UNKNOWN_COMMAND)."""
        return self.call(Command.SIM, {"action": action, **params}, reason=reason)

    def ha_status(self) -> Reply:
        return self.call(Command.HA_STATUS)

    def ha_promote(self, reason: str, *, idempotency_key: str | None = None) -> Reply:
        return self.call(Command.HA_PROMOTE, {}, reason=reason, idempotency_key=idempotency_key)

    def ha_demote(self, reason: str, *, idempotency_key: str | None = None) -> Reply:
        return self.call(Command.HA_DEMOTE, {}, reason=reason, idempotency_key=idempotency_key)


def normalize_limits(limits: Mapping[str, Any]) -> dict[str, Any]:
    """Validate limit keys and put values in wire form (ints, decimal text); raises ValueError naming the key."""
    from decimal import Decimal, InvalidOperation

    out: dict[str, Any] = {}
    for k, v in limits.items():
        kind = LIMIT_KEYS.get(k)
        if kind is None:
            raise ValueError(f"unknown limit {k!r}; known: {', '.join(LIMIT_KEYS)}")
        if isinstance(v, bool) or isinstance(v, float):
            raise ValueError(f"limit {k}: {v!r} must be an integer or decimal text, never a float or bool")
        try:
            if kind is int:
                n = int(str(v).replace("_", ""))
                if n < 0:
                    raise ValueError
                out[k] = n
            else:
                d = Decimal(str(v).replace("_", ""))
                if not d.is_finite() or d < 0:
                    raise ValueError
                out[k] = format(d, "f")
        except (ValueError, InvalidOperation):
            want = "a non-negative integer" if kind is int else "a non-negative decimal"
            raise ValueError(f"limit {k}: {v!r} is not {want}") from None
    if not out:
        raise ValueError("no limits given")
    return out
