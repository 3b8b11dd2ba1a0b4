"""Order lifecycle in the twin core: an order's way through the risk gate to a venue, and its end.

`Order` (a working or finished order) and `OrderRequest` (one validated submit_orders entry, `parse_order`),
and `OrderPath`, the engine's order side: new / cancel-replace / cancel through the 15c3-5 gate (`risk`) and
the venue behaviour (`venues`), fills and expiry, the working-order book and the positions the gate keeps,
and the counters a Binary Star takeover continues. Every step is an event via the sequencer.

Invariant (the real core keeps it too): a cancel is never blocked by any kill level or limit.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core_bridge.protocol import (
    PRICE_SCALE,
    EventFlag,
    EventType,
    OrdType,
    Side,
    TimeInForce,
    Venue,
)
from core_bridge.reasons import ReasonCode
from hw.refdata import ACCOUNTS
from hw.twin import risk
from hw.twin.command_args import _ascii8, _dec, _enum, _uint
from hw.twin.sequencer import EventSequencer
from hw.twin.state import TwinState
from hw.twin.venues import SESSIONS, VenueSim, immediate_fills, marketable, venue_accepts

DONE_ORDERS_KEPT = 100_000  # finished order ids remembered, so a late cancel says ORDER_NOT_WORKING
GATE_SAMPLES_MAX = 100_000  # gate latency samples kept between two health reports


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
    flags: int = 0  # EventFlag bits every event of this order carries (FLATTEN)


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
    flatten: bool = False  # an order of the kill-to-flat flow (protocol §5)


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
    flatten = o.get("flatten", False)
    if not isinstance(flatten, bool):
        raise ValueError("flatten must be true or false")
    if flatten and ord_type is not OrdType.LIMIT:
        raise ValueError("a flatten order must be a LIMIT order (the price collar bounds it)")
    return OrderRequest(
        "new", clordid,
        account=_ascii8(o.get("account"), "account"),
        symbol=_ascii8(o.get("symbol"), "symbol"),
        side=_enum(Side, o.get("side"), "side"),
        qty=qty, price=price, ord_type=ord_type,
        tif=_enum(TimeInForce, o.get("tif", "DAY"), "tif"),
        venue=venue, flatten=flatten,
    )


class OrderPath(EventSequencer):
    """Mixin of `engine.CoreEngine` (which initialises these fields): the order book and the way to a venue."""

    state: TwinState
    risk: risk.RiskInputs
    venues: VenueSim
    orders: dict[int, Order]  # working orders
    done: OrderedDict[int, None]
    _next_order: int
    # telemetry counters
    orders_accepted: int
    rejects: Counter[str]
    gate_ns: list[int]

    # ------------------------------------------------------------------ state <-> gate
    def sync_positions(self) -> None:
        pos: dict[str, dict[str, int]] = {}
        for (a, s), q in sorted(self.risk.positions.items()):
            if q:
                pos.setdefault(a, {})[s] = q
        self.state.positions = pos

    def known_accounts(self) -> set[str]:
        return {a.account for a in ACCOUNTS} | set(self.state.accounts) | set(self.state.bp)

    def _emit_order(self, now: int, etype: EventType, o: Order, *, reason: int = 0, flags: int = 0,
                    last_qty: int = 0, last_px: int = 0, exec_id: int = 0, orig_order_id: int = 0,
                    leaves: int | None = None) -> None:
        self._emit(now, etype, side=int(o.side), venue=int(o.venue), flags=flags | o.flags, reason=reason,
                   ord_type=int(o.ord_type), tif=int(o.tif), account=o.account, symbol=o.symbol,
                   session=SESSIONS.get(o.venue, b"") if etype is not EventType.ORDER_REJECTED else b"",
                   qty=o.qty, leaves=o.leaves if leaves is None else leaves, last_qty=last_qty, price=o.price,
                   last_px=last_px, order_id=o.order_id, orig_order_id=orig_order_id, routed_id=o.routed_id,
                   venue_order_id=o.venue_order_id, exec_id=exec_id, clordid=o.clordid)

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
                  r.tif, r.venue, flags=int(EventFlag.FLATTEN) if r.flatten else 0)
        if r.account not in self.known_accounts():
            rc = ReasonCode.RESTRICTED_ACCOUNT_UNKNOWN
        else:
            terms = risk.OrderTerms(r.account, r.symbol, r.side, r.qty, r.price, r.ord_type, r.venue, r.flatten)
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
        if r.side is Side.SHORT:
            self._use_locate(r.symbol, r.qty)
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

    def _use_locate(self, symbol: str, qty: int) -> None:
        """A short uses its locate: pre-borrowed shares in a penalty-box symbol, else the day's locates."""
        st = self.state
        if symbol in st.preborrow_required:
            st.preborrow_required[symbol] -= qty
        elif st.locates is not None:
            st.locates[symbol] = st.locates.get(symbol, 0) - qty

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
                    venue_order_id=old.venue_order_id, flags=old.flags)
        if qty <= old.filled:
            rc = ReasonCode.ORDER_INVALID
        else:
            terms = risk.OrderTerms(old.account, old.symbol, old.side, qty, price, ord_type, old.venue,
                                    bool(old.flags & EventFlag.FLATTEN))
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
        if old.side is Side.SHORT and extra > 0:
            self._use_locate(old.symbol, extra)
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
