"""The twin core's engine: control commands, the order path through the risk gate to the venues, and
the event sequencer. No sockets and no wall clock: every call takes `now_ns`, so the same engine runs
live behind `server.TwinCore` and in virtual time inside `market.simulate_day`.

Invariants (the real core keeps the same ones):
- A command id already applied is not applied again; the original reply is replayed (same state_version).
- Every applied mutating command bumps `state_version` and is persisted (`persist`) before its reply.
- Cancels are never blocked by any kill level or limit.
- Every event gets the next seq of the current epoch; seq is gapless from 1 within an epoch.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from core_bridge.auth import Identity
from core_bridge.protocol import (
    COMMAND_ROLE,
    EVENT_DTYPE,
    KILL_SCOPE_CODES,
    MUTATING,
    PRICE_SCALE,
    PROTOCOL_VERSION,
    Command,
    EventFlag,
    EventType,
    KillLevel,
    KillScope,
    OrdType,
    Reply,
    Request,
    Role,
    Side,
    TimeInForce,
    Venue,
    from_fixed,
)
from core_bridge.reasons import ReasonCode
from hw.refdata import ACCOUNTS, SECURITIES
from hw.twin import risk
from hw.twin.ha import HaNode
from hw.twin.state import TwinState, limit_above_policy, normalize_limit
from hw.twin.venues import SESSIONS, VenueSim, immediate_fills, marketable, venue_accepts

DONE_ORDERS_KEPT = 100_000  # finished order ids remembered, so a late cancel says ORDER_NOT_WORKING
MAX_ORDERS_PER_REQUEST = 10_000
GATE_SAMPLES_MAX = 100_000  # gate latency samples kept between two health reports
_READ_ONLY = frozenset({Command.HELLO, Command.STATUS, Command.SNAPSHOT, Command.HA_STATUS,
                        Command.HA_PROMOTE, Command.HA_DEMOTE})


class ArgsInvalid(Exception):
    """A command's arguments are missing or out of range (reply MSG_ARGS_INVALID, nothing applied)."""


class Refused(Exception):
    """A well-formed command the core will not apply (reply carries `code`, nothing applied)."""

    def __init__(self, code: ReasonCode, message: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True)
class Order:
    order_id: int
    clordid: int
    account: str
    symbol: str
    side: Side
    qty: int
    leaves: int
    filled: int
    price: int
    ord_type: OrdType
    tif: TimeInForce
    venue: Venue
    routed_id: int = 0
    venue_order_id: int = 0
    working: bool = False


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One entry of submit_orders, validated."""

    action: str  # new | replace | cancel
    clordid: int
    account: str = ""
    symbol: str = ""
    side: Side = Side.BUY
    qty: int = 0
    price: int = 0
    ord_type: OrdType = OrdType.LIMIT
    tif: TimeInForce = TimeInForce.DAY
    venue: Venue = Venue.NSDQ
    order_id: int = 0


def _ascii8(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 8 or not v.isascii() or not v.isprintable():
        raise ValueError(f"{what} must be 1..8 printable ASCII characters")
    return v


def _uint(v: Any, what: str, hi: int = 2**32 - 1) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > hi:
        raise ValueError(f"{what} must be an integer 0..{hi}")
    return v


def _enum(cls: Any, v: Any, what: str) -> Any:
    if not isinstance(v, str) or v not in cls.__members__:
        raise ValueError(f"{what} must be one of {sorted(cls.__members__)}")
    return cls[v]


def _dec(v: Any, what: str) -> Decimal:
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a decimal string")
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise ValueError(f"{what} is not a decimal: {v[:40]!r}") from None
    if not d.is_finite() or d < 0 or d > Decimal(10) ** 15:
        raise ValueError(f"{what} out of range")
    return d


def parse_order(o: Any) -> OrderRequest:
    """Validate one submit_orders entry; raises ValueError naming the field at fault."""
    if not isinstance(o, dict):
        raise ValueError("order is not an object")
    action = o.get("action", "new")
    if action not in ("new", "replace", "cancel"):
        raise ValueError("action must be new, replace or cancel")
    clordid = _uint(o.get("clordid", 0), "clordid", 2**64 - 1)
    if action == "cancel":
        return OrderRequest("cancel", clordid, order_id=_uint(o.get("order_id"), "order_id", 2**64 - 1))
    ord_type = _enum(OrdType, o.get("ord_type", "LIMIT"), "ord_type")
    price_raw = o.get("price")
    if ord_type is OrdType.MARKET:
        if price_raw is not None:
            raise ValueError("price must be null on a market order")
        price = 0
    else:
        d = _dec(price_raw, "price")
        price = int(d * PRICE_SCALE)
        if price <= 0 or Decimal(price) != d * PRICE_SCALE:
            raise ValueError("price must be positive with at most 4 decimals")
    qty = _uint(o.get("qty"), "qty")
    if qty == 0:
        raise ValueError("qty must be positive")
    if action == "replace":
        return OrderRequest("replace", clordid, qty=qty, price=price, ord_type=ord_type,
                            order_id=_uint(o.get("order_id"), "order_id", 2**64 - 1))
    venue = _enum(Venue, o.get("venue", "NSDQ"), "venue")
    if venue is Venue.NONE:
        raise ValueError("venue must be NSDQ, NYSE or ARCA")
    return OrderRequest(
        "new", clordid,
        account=_ascii8(o.get("account"), "account"),
        symbol=_ascii8(o.get("symbol"), "symbol"),
        side=_enum(Side, o.get("side"), "side"),
        qty=qty, price=price, ord_type=ord_type,
        tif=_enum(TimeInForce, o.get("tif", "DAY"), "tif"),
        venue=venue,
    )


class CoreEngine:
    """State + gate + venues + sequencer. Call `drain()` to take the events emitted so far."""

    def __init__(self, state: TwinState, *, node: str = "primary", ha: HaNode | None = None,
                 started_ns: int | None = None) -> None:
        self.state = state
        self.epoch = state.epoch
        self.ha = ha or HaNode(node)
        self.node = node
        self.seq = 0
        self._last_ts = 0
        self.event_clock_offset_ns = 0  # the server sets it for a simulated session date (session_clock.py)
        self.started_ns = started_ns if started_ns is not None else time.time_ns()
        self.pending: list[tuple[Any, ...]] = []
        self.orders: dict[int, Order] = {}  # working orders
        self.done: OrderedDict[int, None] = OrderedDict()
        self._next_order = 0
        self.venues = VenueSim(self.epoch)
        self.risk = risk.RiskInputs()
        self.risk.ref_price = {s.symbol: s.ref_price for s in SECURITIES}
        self.risk.positions = {(a, s): q for a, pos in state.positions.items() for s, q in pos.items()}
        self.refresh_risk()
        self.persist: Callable[[], None] = lambda: None
        self.on_applied: Callable[[Request, Reply], None] = lambda req, rep: None
        self.status_extra: Callable[[], dict[str, Any]] = dict  # the server adds auth_failures
        # telemetry counters
        self.orders_accepted = 0
        self.rejects: Counter[str] = Counter()
        self.gate_ns: list[int] = []
        self.handlers: dict[Command, Callable[[Request, Identity, int], dict[str, Any]]] = {
            Command.HELLO: self._hello,
            Command.STATUS: lambda r, i, n: self.status(n),
            Command.SNAPSHOT: lambda r, i, n: self.snapshot(n),
            Command.SET_KILL: self._set_kill,
            Command.CANCEL_ALL: self._cancel_all,
            Command.SET_LIMITS: self._set_limits,
            Command.SET_BP: self._set_bp,
            Command.SET_LOCATES: self._set_locates,
            Command.SET_RESTRICTED: self._set_restricted,
            Command.SET_HALTS: self._set_halts,
            Command.SET_SOD_POSITIONS: self._set_sod_positions,
            Command.SUBMIT_ORDERS: self._submit_orders,
            Command.HA_STATUS: lambda r, i, n: self.ha.status(self.epoch),
            Command.HA_PROMOTE: self._ha_unchanged,
            Command.HA_DEMOTE: self._ha_unchanged,
        }

    # ------------------------------------------------------------------ state <-> gate
    def refresh_risk(self) -> None:
        """Recompile the gate's view after a control change (cheap: a few dicts)."""
        st, r = self.state, self.risk
        r.kill_firm = st.kill_firm
        r.kill = st.kill
        r.state_unknown = st.state_unknown
        firm = st.limits["firm"]
        r.firm_limits = risk.Limits.compile(firm)
        r.account_limits = {a: risk.Limits.compile({**firm, **v}) for a, v in st.limits.items() if a != "firm"}
        r.bp = {a: int(Decimal(v) * PRICE_SCALE) for a, v in st.bp.items()}
        r.locates = st.locates
        r.restricted = frozenset(st.restricted)
        r.halts = st.halts
        r.mwcb_level = st.mwcb_level

    def sync_positions(self) -> None:
        pos: dict[str, dict[str, int]] = {}
        for (a, s), q in sorted(self.risk.positions.items()):
            if q:
                pos.setdefault(a, {})[s] = q
        self.state.positions = pos

    def known_accounts(self) -> set[str]:
        return {a.account for a in ACCOUNTS} | set(self.state.accounts) | set(self.state.bp)

    # ------------------------------------------------------------------ sequencer
    def _ts(self, now: int) -> int:
        now += self.event_clock_offset_ns
        ts = now if now > self._last_ts else self._last_ts + 1
        self._last_ts = ts
        return ts

    def reserve(self, n: int, now: int) -> tuple[int, int]:
        """Take n seqs and n timestamps at once (stream mode); returns the first seq and first ts."""
        first = self.seq + 1
        self.seq += n
        ts = self._ts(now)
        self._last_ts = ts + n - 1
        return first, ts

    def _emit(self, now: int, etype: EventType, *, side: int = 0, venue: int = 0, flags: int = 0, reason: int = 0,
              ord_type: int = 0, tif: int = 0, account: str = "", symbol: str = "", session: bytes = b"",
              qty: int = 0, leaves: int = 0, last_qty: int = 0, price: int = 0, last_px: int = 0,
              order_id: int = 0, orig_order_id: int = 0, routed_id: int = 0, venue_order_id: int = 0,
              exec_id: int = 0, clordid: int = 0) -> None:
        self.seq += 1
        self.pending.append((self.seq, self._ts(now), self.epoch, int(etype), side, venue, flags, reason, ord_type, tif,
                             account.encode(), symbol.encode(), session, qty, leaves, last_qty, price, last_px,
                             order_id, orig_order_id, routed_id, venue_order_id, exec_id, clordid))

    def _emit_order(self, now: int, etype: EventType, o: Order, *, reason: int = 0, flags: int = 0,
                    last_qty: int = 0, last_px: int = 0, exec_id: int = 0, orig_order_id: int = 0,
                    leaves: int | None = None) -> None:
        self._emit(now, etype, side=int(o.side), venue=int(o.venue), flags=flags, reason=reason,
                   ord_type=int(o.ord_type), tif=int(o.tif), account=o.account, symbol=o.symbol,
                   session=SESSIONS.get(o.venue, b"") if etype is not EventType.ORDER_REJECTED else b"",
                   qty=o.qty, leaves=o.leaves if leaves is None else leaves, last_qty=last_qty, price=o.price,
                   last_px=last_px, order_id=o.order_id, orig_order_id=orig_order_id, routed_id=o.routed_id,
                   venue_order_id=o.venue_order_id, exec_id=exec_id, clordid=o.clordid)

    def drain(self) -> np.ndarray:
        if not self.pending:
            return np.zeros(0, dtype=EVENT_DTYPE)
        out = np.array(self.pending, dtype=EVENT_DTYPE)
        self.pending = []
        return out

    # ------------------------------------------------------------------ HA (Binary Star) hand-over
    def counters(self) -> dict[str, Any]:
        """Sequencer and id counters a takeover must continue (replicated with every batch)."""
        v = self.venues
        return {"seq": self.seq, "last_ts": self._last_ts, "next_order": self._next_order,
                "routed": {k.name: n for k, n in v._routed.items()},
                "venue_ids": {k.name: n for k, n in v._venue_ids.items()},
                "exec": {k.name: n for k, n in v._exec.items()}}

    def restore_counters(self, seq: int, c: dict[str, Any]) -> None:
        """Continue the replicated stream: next seq, order ids and venue ids after the old active's."""
        self.seq = seq
        self._last_ts = int(c.get("last_ts", 0))
        self._next_order = int(c.get("next_order", 0))
        for name, counters in (("routed", self.venues._routed), ("venue_ids", self.venues._venue_ids),
                               ("exec", self.venues._exec)):
            for k, n in (c.get(name) or {}).items():
                if k in Venue.__members__ and Venue[k] in counters:
                    counters[Venue[k]] = int(n)

    def emit_role_change(self, now: int, role: int, *, takeover: bool) -> None:
        self._emit(now, EventType.ROLE_CHANGED, qty=role, flags=int(EventFlag.TAKEOVER) if takeover else 0)

    def cancel_on_takeover(self, now: int, orders: list[Order]) -> int:
        """Orders that were working on the lost node's venue sessions are gone (cancel-on-disconnect):
        report each one's end so nothing stays in flight."""
        for o in orders:
            self._emit_order(now, EventType.ORDER_CANCELLED, o, reason=int(ReasonCode.CANCEL_FIRM),
                             flags=int(EventFlag.TAKEOVER), last_qty=o.leaves, leaves=0)
            self.done[o.order_id] = None
        return len(orders)

    # ------------------------------------------------------------------ control commands
    def handle(self, req: Request, ident: Identity, now: int) -> Reply:
        """Apply one decoded request for an authenticated identity; never raises for bad input."""
        st = self.state

        def refuse(code: ReasonCode, message: str = "") -> Reply:
            return Reply(req.id, False, code.name, st.state_version, {}, message)

        if req.v != PROTOCOL_VERSION:
            return refuse(ReasonCode.MSG_VERSION_UNSUPPORTED, f"version {req.v} (core speaks {PROTOCOL_VERSION})")
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
                                             "state_version": reply.state_version, "result": result},
                    req.operator, req.reason)
        self.sync_positions()
        self.persist()
        self.on_applied(req, reply)
        return reply

    def _hello(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "core_id": f"twin-{self.node}", "node": self.node,
                "epoch": self.epoch, "identity": ident.name, "role": ident.role.value}

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
            "temp_limits": [{"account": t["account"], "limits": t["limits"], "until_ns": t["until_ns"]}
                            for t in st.temp_limits],
            "bp": st.bp,
            "bp_as_of_ns": st.bp_as_of_ns,
            "locates": st.locates,
            "locates_date": st.locates_date,
            "restricted": sorted(st.restricted),
            "halts": st.halts,
            "mwcb_level": st.mwcb_level,
            "positions": st.positions,
            "sod_date": st.sod_date,
            "accounts": sorted(self.known_accounts()),
        }

    def _set_kill(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        scope, key = _scope_key(req.args)
        try:
            level = _enum(KillLevel, req.args.get("level"), "level")
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        st = self.state
        if key is None:
            previous = st.kill_firm
            st.kill_firm = level
            st.state_unknown = False  # an operator has now set the firm level explicitly
        else:
            levels = st.kill[scope]
            previous = levels.get(key, KillLevel.ACTIVE)
            if level is KillLevel.ACTIVE:
                levels.pop(key, None)
            else:
                levels[key] = level
        self.refresh_risk()
        if previous is not level:
            self._emit(now, EventType.KILL_STATE_CHANGED, qty=KILL_SCOPE_CODES[scope], price=int(level),
                       account=key if scope is KillScope.ACCOUNT and key else "",
                       symbol=key if scope is KillScope.SYMBOL and key else "",
                       venue=int(Venue[key]) if scope is KillScope.VENUE and key else 0)
        return {"scope": scope.value, "key": key, "level": level.name, "previous": previous.name}

    def _cancel_all(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        scope, key = _scope_key(req.args)
        return {"cancelled": self.cancel_all(scope, key, now)}

    def cancel_all(self, scope: KillScope, key: str | None, now: int) -> int:
        def match(o: Order) -> bool:
            if scope is KillScope.FIRM:
                return True
            if scope is KillScope.ACCOUNT:
                return o.account == key
            if scope is KillScope.SYMBOL:
                return o.symbol == key
            return o.venue.name == key

        victims = [oid for oid, o in self.orders.items() if match(o)]
        for oid in victims:
            self.cancel(oid, now, cancel_all=True)
        return len(victims)

    def _set_limits(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        account = a.get("account")
        approver = a.get("approver")
        until_ns = a.get("until_ns")
        limits = a.get("limits")
        try:
            if account is not None:
                _ascii8(account, "account")
                if account not in self.known_accounts():
                    raise ValueError(f"unknown account {account!r}")
            if not isinstance(approver, str) or not approver.strip():
                raise ValueError("approver is required")
            if until_ns is not None and (not isinstance(until_ns, int) or isinstance(until_ns, bool)
                                         or until_ns <= now or until_ns > 2**63 - 1):
                raise ValueError("until_ns must be a future UTC-ns integer or null")
            if not isinstance(limits, dict) or not limits:
                raise ValueError("limits must be a non-empty object")
            new = {str(k): normalize_limit(str(k), v) for k, v in limits.items()}
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        if not ident.role.allows(Role.ADMIN):
            over = [k for k, v in new.items() if limit_above_policy(k, v)]
            if over:
                raise Refused(ReasonCode.LIMIT_POLICY_EXCEEDED, f"above operator policy: {', '.join(sorted(over))}")
        st = self.state
        scope = account or "firm"
        cur = st.limits.setdefault(scope, {})
        if until_ns is not None:
            previous: dict[str, int | str | None] = {k: cur.get(k) for k in new}
            for t in st.temp_limits:  # a newer raise of the same key takes over the older one's revert value
                if t["account"] == account:
                    for k in new:
                        if k in t["previous"]:
                            previous[k] = t["previous"].pop(k)
            st.temp_limits.append({"account": account, "limits": new, "previous": previous, "until_ns": until_ns,
                                   "approver": approver, "operator": req.operator})
        else:
            for t in st.temp_limits:  # a permanent change of a key cancels a pending revert of that key
                if t["account"] == account:
                    for k in new:
                        t["previous"].pop(k, None)
        cur.update(new)
        self._limits_changed(now, account)
        return {"limits_version": st.limits_version, "account": account, "limits": self.effective_limits(account),
                "until_ns": until_ns}

    def effective_limits(self, account: str | None) -> dict[str, int | str]:
        firm = self.state.limits["firm"]
        return dict(firm) if account is None else {**firm, **self.state.limits.get(account, {})}

    def _limits_changed(self, now: int, account: str | None) -> None:
        self.state.limits_version += 1
        self.refresh_risk()
        self._emit(now, EventType.LIMITS_CHANGED, qty=self.state.limits_version, account=account or "")

    def revert_due_limits(self, now: int) -> bool:
        """Revert temporary raises whose time has come; True if anything changed (caller persists)."""
        st = self.state
        due = [t for t in st.temp_limits if t["until_ns"] <= now]
        if not due:
            return False
        for t in sorted(due, key=lambda t: t["until_ns"]):
            st.temp_limits.remove(t)
            scope = t["account"] or "firm"
            cur = st.limits.setdefault(scope, {})
            for k, v in t["previous"].items():
                if v is None:
                    cur.pop(k, None)
                else:
                    cur[k] = v
            if scope != "firm" and not cur:
                del st.limits[scope]
            self._limits_changed(now, t["account"])
        st.state_version += 1
        return True

    def next_revert_ns(self) -> int | None:
        return min((t["until_ns"] for t in self.state.temp_limits), default=None)

    def _set_bp(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        bp, as_of = a.get("bp"), a.get("as_of_ns")
        try:
            if not isinstance(bp, dict) or not bp:
                raise ValueError("bp must be a non-empty object {account: decimal}")
            vals = {_ascii8(k, "account"): format(_dec(v, f"bp[{k}]").normalize(), "f") for k, v in bp.items()}
            _uint(as_of, "as_of_ns", 2**63 - 1)
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.bp.update(vals)
        self.state.bp_as_of_ns = as_of
        self.refresh_risk()
        return {"accounts": sorted(vals)}

    def _set_locates(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        date, loc = a.get("date"), a.get("locates")
        try:
            _date(date)
            if not isinstance(loc, dict):
                raise ValueError("locates must be an object {symbol: shares}")
            vals = {_ascii8(k, "symbol"): _uint(v, f"locates[{k}]") for k, v in loc.items()}
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.locates = vals
        self.state.locates_date = date
        self.refresh_risk()
        return {"symbols": len(vals)}

    def _set_restricted(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        syms = req.args.get("symbols")
        try:
            if not isinstance(syms, list):
                raise ValueError("symbols must be a list")
            vals = sorted({_ascii8(s, "symbol") for s in syms})
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.restricted = vals
        self.refresh_risk()
        return {"symbols": vals}

    def _set_halts(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        halts, mwcb = a.get("halts", {}), a.get("mwcb_level")
        try:
            if not isinstance(halts, dict):
                raise ValueError("halts must be an object {symbol: HALTED|LULD_PAUSE|OPEN}")
            if not halts and mwcb is None:
                raise ValueError("nothing to set: give halts and/or mwcb_level")
            vals = {}
            for k, v in halts.items():
                if v not in ("HALTED", "LULD_PAUSE", "OPEN"):
                    raise ValueError(f"halts[{k}] must be HALTED, LULD_PAUSE or OPEN")
                vals[_ascii8(k, "symbol")] = v
            if mwcb is not None and (_uint(mwcb, "mwcb_level") > 3):
                raise ValueError("mwcb_level must be 0..3")
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        st = self.state
        for k, v in vals.items():
            if v == "OPEN":
                st.halts.pop(k, None)
            else:
                st.halts[k] = v
        if mwcb is not None:
            st.mwcb_level = mwcb
        self.refresh_risk()
        return {"halted": dict(sorted(st.halts.items())), "mwcb_level": st.mwcb_level}

    def _set_sod_positions(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        date, pos = a.get("date"), a.get("positions")
        try:
            _date(date)
            if not isinstance(pos, dict):
                raise ValueError("positions must be an object {account: {symbol: shares}}")
            vals: dict[tuple[str, str], int] = {}
            for acct, syms in pos.items():
                _ascii8(acct, "account")
                if not isinstance(syms, dict):
                    raise ValueError(f"positions[{acct}] must be an object")
                for sym, q in syms.items():
                    _ascii8(sym, "symbol")
                    if not isinstance(q, int) or isinstance(q, bool) or abs(q) > 2**40:
                        raise ValueError(f"positions[{acct}][{sym}] must be an integer")
                    vals[(acct, sym)] = q
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.risk.positions = {k: v for k, v in vals.items() if v}
        st = self.state
        st.sod_date = date
        st.accounts = sorted(set(st.accounts) | {a for a in pos})
        self.sync_positions()
        return {"accounts": len(pos), "positions": len(vals)}

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

    # ------------------------------------------------------------------ the order path
    def submit(self, o: OrderRequest, now: int) -> tuple[int, ReasonCode]:
        if o.action == "new":
            return self.new_order(o, now)
        if o.action == "replace":
            return self.replace(o.order_id, o.qty, o.price, o.ord_type, now, clordid=o.clordid)
        return o.order_id, self.cancel(o.order_id, now)

    def _new_id(self) -> int:
        self._next_order += 1
        return ((self.epoch & 0xFFFFFFFF) << 32) | self._next_order

    def new_order(self, r: OrderRequest, now: int) -> tuple[int, ReasonCode]:
        o = Order(self._new_id(), r.clordid, r.account, r.symbol, r.side, r.qty, r.qty, 0, r.price, r.ord_type,
                  r.tif, r.venue)
        if r.account not in self.known_accounts():
            rc = ReasonCode.RESTRICTED_ACCOUNT_UNKNOWN
        else:
            terms = risk.OrderTerms(r.account, r.symbol, r.side, r.qty, r.price, r.ord_type, r.venue)
            t0 = time.perf_counter_ns()
            rc = risk.check_new(self.risk, terms, now)
            if len(self.gate_ns) < GATE_SAMPLES_MAX:
                self.gate_ns.append(time.perf_counter_ns() - t0)
        if rc is not ReasonCode.OK:
            self.rejects[rc.name] += 1
            self._emit_order(now, EventType.ORDER_REJECTED, o, reason=int(rc), leaves=0)
            self._finish(o)
            return o.order_id, rc
        self.risk.record_accept(terms, now)
        self.orders_accepted += 1
        if r.side is Side.SHORT and self.state.locates is not None:
            self.state.locates[r.symbol] = self.state.locates.get(r.symbol, 0) - r.qty  # locate used
        self._emit_order(now, EventType.ORDER_NEW, o)
        o.routed_id = self.venues.routed_id(o.venue)
        self._emit_order(now, EventType.ORDER_ROUTED, o)
        if not venue_accepts(o.ord_type, o.price):
            self.rejects[ReasonCode.VENUE_REJECTED.name] += 1
            self._emit_order(now, EventType.ROUTE_REJECTED, o, reason=int(ReasonCode.VENUE_REJECTED), leaves=0)
            self._finish(o)
            return o.order_id, ReasonCode.VENUE_REJECTED
        o.venue_order_id = self.venues.venue_order_id(o.venue)
        self._emit_order(now, EventType.ORDER_ACKED, o)
        self._work(o)
        self._match(o, now)
        return o.order_id, ReasonCode.OK

    def _work(self, o: Order) -> None:
        o.working = True
        self.orders[o.order_id] = o
        self.risk.add_working(o.account, o.symbol, o.side, o.leaves, o.price)

    def _finish(self, o: Order) -> None:
        if o.working:
            self.risk.remove_working(o.account, o.symbol, o.side, o.leaves, o.price)
            o.working = False
            self.orders.pop(o.order_id, None)
        self.done[o.order_id] = None
        if len(self.done) > DONE_ORDERS_KEPT:
            self.done.popitem(last=False)

    def _match(self, o: Order, now: int) -> None:
        ref = self.risk.ref_price[o.symbol]
        if marketable(o.side, o.ord_type, o.price, ref):
            for q in immediate_fills(o.leaves):
                self.fill(o.order_id, q, ref, now)
        if o.working and o.tif is TimeInForce.IOC:
            self.expire(o, now)

    def fill(self, order_id: int, qty: int, px: int, now: int) -> None:
        o = self.orders[order_id]
        qty = min(qty, o.leaves)
        self.risk.remove_working(o.account, o.symbol, o.side, qty, o.price)
        o.leaves -= qty
        o.filled += qty
        self.risk.apply_fill(o.account, o.symbol, o.side, qty)
        self._emit_order(now, EventType.ORDER_FILLED, o, last_qty=qty, last_px=px,
                         exec_id=self.venues.exec_id(o.venue))
        if o.leaves == 0:
            o.working = False
            self.orders.pop(o.order_id, None)
            self._finish(o)

    def expire(self, o: Order, now: int) -> None:
        left = o.leaves
        self._finish(o)
        self._emit_order(now, EventType.ORDER_EXPIRED, o, reason=int(ReasonCode.CANCEL_EXPIRED), last_qty=left,
                         leaves=0)

    def end_of_day(self, now: int) -> int:
        """Expire every working DAY order at the close (ORDER_EXPIRED, CANCEL_EXPIRED)."""
        victims = [o for o in self.orders.values() if o.tif is TimeInForce.DAY]
        for o in victims:
            self.expire(o, now)
        return len(victims)

    def cancel(self, order_id: int, now: int, *, cancel_all: bool = False) -> ReasonCode:
        """Cancel a working order. Never blocked by a kill level or limit."""
        o = self.orders.get(order_id)
        if o is None:
            return ReasonCode.ORDER_NOT_WORKING if order_id in self.done else ReasonCode.ORDER_UNKNOWN
        flags = int(EventFlag.FROM_CANCEL_ALL) if cancel_all else 0
        self._emit_order(now, EventType.ORDER_CANCEL_REQUESTED, o, flags=flags)
        left = o.leaves
        self._finish(o)
        reason = ReasonCode.CANCEL_CANCEL_ALL if cancel_all else ReasonCode.CANCEL_FIRM
        self._emit_order(now, EventType.ORDER_CANCELLED, o, reason=int(reason), flags=flags, last_qty=left, leaves=0)
        return ReasonCode.OK

    def replace(self, order_id: int, qty: int, price: int, ord_type: OrdType, now: int, *,
                clordid: int = 0) -> tuple[int, ReasonCode]:
        """Cancel/replace: new order_id and routed id; the gate (collar included) checks the new terms."""
        old = self.orders.get(order_id)
        if old is None:
            return 0, ReasonCode.ORDER_NOT_WORKING if order_id in self.done else ReasonCode.ORDER_UNKNOWN
        new = Order(self._new_id(), clordid or old.clordid, old.account, old.symbol, old.side, qty, qty - old.filled,
                    old.filled, price, ord_type, old.tif, old.venue, routed_id=old.routed_id,
                    venue_order_id=old.venue_order_id)
        if qty <= old.filled:
            rc = ReasonCode.ORDER_INVALID
        else:
            terms = risk.OrderTerms(old.account, old.symbol, old.side, qty, price, ord_type, old.venue)
            t0 = time.perf_counter_ns()
            rc = risk.check_replace(self.risk, terms, old_leaves=old.leaves, old_price=old.price, filled=old.filled,
                                    now_ns=now)
            if len(self.gate_ns) < GATE_SAMPLES_MAX:
                self.gate_ns.append(time.perf_counter_ns() - t0)
        if rc is not ReasonCode.OK:
            self.rejects[rc.name] += 1
            self._emit_order(now, EventType.REPLACE_REJECTED, new, reason=int(rc), orig_order_id=old.order_id,
                             leaves=max(new.leaves, 0))
            return new.order_id, rc
        extra = new.leaves - old.leaves
        if old.side is Side.SHORT and extra > 0 and self.state.locates is not None:
            self.state.locates[old.symbol] = self.state.locates.get(old.symbol, 0) - extra
        new.routed_id = self.venues.routed_id(old.venue)
        self._emit_order(now, EventType.ORDER_REPLACED, new, orig_order_id=old.order_id)
        if not venue_accepts(ord_type, price):
            self.rejects[ReasonCode.VENUE_REJECTED.name] += 1
            self._emit_order(now, EventType.ROUTE_REJECTED, new, reason=int(ReasonCode.VENUE_REJECTED),
                             orig_order_id=old.order_id)
            self.done[new.order_id] = None
            return new.order_id, ReasonCode.VENUE_REJECTED
        self._finish(old)
        new.venue_order_id = self.venues.venue_order_id(old.venue)
        self._emit_order(now, EventType.ORDER_ACKED, new, orig_order_id=old.order_id)
        self._work(new)
        self._match(new, now)
        return new.order_id, ReasonCode.OK

    # ------------------------------------------------------------------ telemetry
    def health(self) -> dict[str, Any]:
        lat = sorted(self.gate_ns)
        self.gate_ns = []

        def pct(p: float) -> int | None:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

        return {
            "rejects": dict(self.rejects),
            "exposure": self.exposure(),
            "gate_latency_ns": {"p50": pct(0.5), "p99": pct(0.99), "max": lat[-1] if lat else None,
                                "samples": len(lat)},
            "trading_state": self.state.kill_firm.name,
            "orders_working": len(self.orders),
        }

    def exposure(self) -> dict[str, dict[str, str]]:
        out: dict[str, list[int]] = {}
        for (a, s), q in self.risk.positions.items():
            v = q * self.risk.ref_price.get(s, 0)
            g = out.setdefault(a, [0, 0])
            g[0] += abs(v)
            g[1] += v
        return {a: {"gross": from_fixed(g), "net": from_fixed(n)} for a, (g, n) in sorted(out.items())}


def _scope_key(a: dict[str, Any]) -> tuple[KillScope, str | None]:
    """{scope, key} of set_kill/cancel_all; key is null for firm, a venue name for venue."""
    try:
        raw = a.get("scope")
        scope = _enum(KillScope, raw.upper() if isinstance(raw, str) else None, "scope")
        key = a.get("key")
        if scope is KillScope.FIRM:
            if key is not None:
                raise ValueError("key must be null for the firm scope")
            return scope, None
        if scope is KillScope.VENUE:
            venue = _enum(Venue, key, "key")
            if venue is Venue.NONE:
                raise ValueError("key must be NSDQ, NYSE or ARCA")
            return scope, venue.name
        return scope, _ascii8(key, "key")
    except ValueError as exc:
        raise ArgsInvalid(str(exc)) from None


def _date(v: Any) -> str:
    import datetime as _dt

    if not isinstance(v, str):
        raise ValueError("date must be YYYY-MM-DD")
    try:
        _dt.date.fromisoformat(v)
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, got {v[:20]!r}") from None
    return v

