"""The pre-trade risk gate (SEC 15c3-5 + kill switch + Reg SHO + halts), as pure functions.

`check_new` and `check_replace` read a `RiskInputs` (everything pushed to the core plus the live book the
engine keeps) and return a ReasonCode: OK, or the first control that blocks the order. They never mutate
anything; the engine records an accepted order afterwards (`RiskInputs.record_accept`). Cancels are never
checked: no kill level or limit ever blocks a cancel.
A flatten order (`OrderTerms.flatten`, the kill-to-flat flow) passes any kill level, but only as REDUCE_ONLY:
it must bring |position| toward zero without crossing it; every other control, the collar included, applies.

Order of checks (the first failure is the reason reported):
  kill level -> MWCB -> symbol halt/LULD pause -> restricted list -> locate (SHORT only) -> max qty ->
  price collar -> max notional -> duplicate window -> order rate -> buying power -> credit threshold ->
  gross exposure -> net exposure.

All money is integer fixed point (PRICE_SCALE per dollar); shares are ints; signed quantities are
positive for BUY and negative for SELL/SHORT/SHORT_EXEMPT.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from core_bridge.protocol import PRICE_SCALE, KillLevel, KillScope, OrdType, Side, Venue
from core_bridge.reasons import ReasonCode

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
_COLLAR_SCALE = 10_000  # price_collar_pct held in 1/10,000 of a percent
RECENT_MAX = 200_000  # duplicate-check memory is pruned beyond this many keys
MAX_DUPLICATE_WINDOW_NS = 60 * NS_PER_S  # the policy ceiling of duplicate_window_ms


@dataclass(frozen=True, slots=True)
class Limits:
    """One account's effective 15c3-5 limits, compiled to integers for the hot path."""

    max_order_qty: int
    max_order_notional: int  # fixed point
    collar: int  # percent * _COLLAR_SCALE
    duplicate_window_ns: int
    max_orders_per_sec: int
    credit_threshold: int  # fixed point
    gross_exposure_cap: int  # fixed point
    net_exposure_cap: int  # fixed point

    @classmethod
    def compile(cls, values: dict[str, int | str]) -> Limits:
        def fx(key: str) -> int:
            return int(Decimal(str(values[key])) * PRICE_SCALE)

        return cls(
            max_order_qty=int(values["max_order_qty"]),
            max_order_notional=fx("max_order_notional"),
            collar=int(Decimal(str(values["price_collar_pct"])) * _COLLAR_SCALE),
            duplicate_window_ns=int(values["duplicate_window_ms"]) * NS_PER_MS,
            max_orders_per_sec=int(values["max_orders_per_sec"]),
            credit_threshold=fx("credit_threshold"),
            gross_exposure_cap=fx("gross_exposure_cap"),
            net_exposure_cap=fx("net_exposure_cap"),
        )


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What the gate looks at for a new order or the new terms of a replace."""

    account: str
    symbol: str
    side: Side
    qty: int
    price: int  # fixed point; 0 for market orders
    ord_type: OrdType = OrdType.LIMIT
    venue: Venue = Venue.NSDQ
    flatten: bool = False  # the kill-to-flat flow: REDUCE_ONLY semantics at every kill level


def signed(side: Side, qty: int) -> int:
    return qty if side is Side.BUY else -qty


@dataclass
class RiskInputs:
    """The gate's view: pushed controls (compiled) plus the live book the engine maintains."""

    kill_firm: KillLevel = KillLevel.ACTIVE
    kill: dict[KillScope, dict[str, KillLevel]] = field(
        default_factory=lambda: {KillScope.ACCOUNT: {}, KillScope.SYMBOL: {}, KillScope.VENUE: {}}
    )
    state_unknown: bool = False
    firm_limits: Limits | None = None
    account_limits: dict[str, Limits] = field(default_factory=dict)
    ref_price: dict[str, int] = field(default_factory=dict)
    bp: dict[str, int] = field(default_factory=dict)  # fixed point; missing account = unknown
    locates: dict[str, int] | None = None
    restricted: frozenset[str] = frozenset()
    preborrow_required: dict[str, int] = field(default_factory=dict)  # penalty box: pre-borrowed shares left
    halts: dict[str, str] = field(default_factory=dict)
    mwcb_level: int = 0
    # live book
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    working_buy: dict[tuple[str, str], int] = field(default_factory=dict)  # leaves of working buys
    working_sell: dict[tuple[str, str], int] = field(default_factory=dict)  # leaves of working sells
    open_notional: dict[str, int] = field(default_factory=dict)  # per account, fixed point
    recent: dict[tuple[str, str, int, int, int], int] = field(default_factory=dict)  # dup key -> last ts
    rate: dict[str, deque[int]] = field(default_factory=dict)  # account -> accept timestamps (last 1 s)

    def limits_for(self, account: str) -> Limits:
        lim = self.account_limits.get(account) or self.firm_limits
        assert lim is not None, "firm limits are always compiled"
        return lim

    # --- book upkeep (the engine calls these; the checks below only read) ---
    def record_accept(self, t: OrderTerms, now_ns: int) -> None:
        self.recent[(t.account, t.symbol, int(t.side), t.qty, t.price)] = now_ns
        if len(self.recent) > RECENT_MAX:  # forget what no duplicate window can still see
            windows = [lim.duplicate_window_ns for lim in (self.firm_limits, *self.account_limits.values()) if lim]
            cutoff = now_ns - max([MAX_DUPLICATE_WINDOW_NS, *windows])
            self.recent = {k: ts for k, ts in self.recent.items() if ts >= cutoff}
        dq = self.rate.setdefault(t.account, deque())
        dq.append(now_ns)

    def add_working(self, account: str, symbol: str, side: Side, leaves: int, price: int) -> None:
        key = (account, symbol)
        book = self.working_buy if side is Side.BUY else self.working_sell
        book[key] = book.get(key, 0) + leaves
        px = price or self.ref_price.get(symbol, 0)
        self.open_notional[account] = self.open_notional.get(account, 0) + leaves * px

    def remove_working(self, account: str, symbol: str, side: Side, leaves: int, price: int) -> None:
        self.add_working(account, symbol, side, -leaves, price)

    def apply_fill(self, account: str, symbol: str, side: Side, qty: int) -> None:
        key = (account, symbol)
        self.positions[key] = self.positions.get(key, 0) + signed(side, qty)


def effective_level(inp: RiskInputs, account: str, symbol: str, venue: Venue) -> KillLevel:
    """Most restrictive of firm, account, symbol and venue."""
    lvl = inp.kill_firm
    for scope, key in ((KillScope.ACCOUNT, account), (KillScope.SYMBOL, symbol), (KillScope.VENUE, venue.name)):
        other = inp.kill[scope].get(key)
        if other is not None and other > lvl:
            lvl = other
    return lvl


def reduces_position(position: int, reducing_working: int, delta: int) -> bool:
    """REDUCE_ONLY: the order (signed `delta`) must bring |position| toward zero without crossing it,
    counting working orders already on the reducing side (`reducing_working`, signed like delta)."""
    if position == 0 or delta == 0 or (delta > 0) == (position > 0):
        return False
    return abs(reducing_working + delta) <= abs(position)


def _kill_reason(inp: RiskInputs, level: KillLevel) -> ReasonCode:
    if level is KillLevel.HALTED:
        return ReasonCode.KILL_STATE_UNKNOWN if inp.state_unknown else ReasonCode.KILL_HALTED
    return ReasonCode.KILL_CANCEL_ONLY


def _halt_reason(inp: RiskInputs, symbol: str) -> ReasonCode:
    if inp.mwcb_level >= 1:
        return ReasonCode.HALT_MWCB
    h = inp.halts.get(symbol)
    if h == "HALTED":
        return ReasonCode.HALT_SYMBOL_HALTED
    if h == "LULD_PAUSE":
        return ReasonCode.HALT_LULD_PAUSE
    return ReasonCode.OK


def _price_reason(lim: Limits, t: OrderTerms, ref: int) -> ReasonCode:
    if t.ord_type is OrdType.LIMIT and abs(t.price - ref) * 100 * _COLLAR_SCALE > ref * lim.collar:
        return ReasonCode.LIMIT_PRICE_COLLAR
    return ReasonCode.OK


def _exposure_reason(inp: RiskInputs, lim: Limits, t: OrderTerms, delta: int, old_leaves: int) -> ReasonCode:
    """Gross/net after the order fills in full, on top of working orders in the same direction."""
    gross = net = 0
    for (acct, sym), pos in inp.positions.items():
        if acct != t.account or sym == t.symbol:
            continue
        v = pos * inp.ref_price.get(sym, 0)
        gross += abs(v)
        net += v
    key = (t.account, t.symbol)
    same_dir = inp.working_buy.get(key, 0) if delta > 0 else -inp.working_sell.get(key, 0)
    same_dir -= signed(t.side, old_leaves)
    pos_after = inp.positions.get(key, 0) + same_dir + delta
    v = pos_after * inp.ref_price[t.symbol]
    gross += abs(v)
    net += v
    if gross > lim.gross_exposure_cap:
        return ReasonCode.LIMIT_GROSS_EXPOSURE
    if abs(net) > lim.net_exposure_cap:
        return ReasonCode.LIMIT_NET_EXPOSURE
    return ReasonCode.OK


def _common(inp: RiskInputs, t: OrderTerms, *, new_leaves: int, old_leaves: int, old_notional: int, extra_short: int,
            now_ns: int, replace: bool) -> ReasonCode:
    """Every control but the cancel exemption. On a replace, `old_leaves`/`old_notional` describe the order
    being replaced, which is already in the working book and is taken out of the arithmetic."""
    ref = inp.ref_price.get(t.symbol)
    if ref is None or ref <= 0:
        return ReasonCode.LIMIT_NO_REFERENCE_PRICE
    delta = signed(t.side, new_leaves)
    level = effective_level(inp, t.account, t.symbol, t.venue)
    if t.flatten:  # allowed past any level, but only to reduce (never while the state is unknown)
        level = KillLevel.HALTED if inp.state_unknown else KillLevel.REDUCE_ONLY
    if level >= KillLevel.CANCEL_ONLY:
        return _kill_reason(inp, level)
    if level is KillLevel.REDUCE_ONLY:
        key = (t.account, t.symbol)
        pos = inp.positions.get(key, 0)
        reducing = -inp.working_sell.get(key, 0) if pos > 0 else inp.working_buy.get(key, 0)
        if (t.side is Side.BUY) == (pos < 0):  # the replaced order sat on the reducing side
            reducing -= signed(t.side, old_leaves)
        if not reduces_position(pos, reducing, delta):
            return ReasonCode.KILL_REDUCE_ONLY
    rc = _halt_reason(inp, t.symbol)
    if rc:
        return rc
    if t.symbol in inp.restricted:
        return ReasonCode.RESTRICTED_SYMBOL
    if t.side is Side.SHORT and extra_short > 0 and t.symbol in inp.preborrow_required:
        if inp.preborrow_required[t.symbol] < extra_short:  # Rule 204(b): only a pre-borrow will do
            return ReasonCode.LOCATE_PREBORROW_REQUIRED
    elif t.side is Side.SHORT and extra_short > 0:
        if inp.locates is None:
            return ReasonCode.LOCATE_UNKNOWN
        if inp.locates.get(t.symbol, 0) < extra_short:
            return ReasonCode.LOCATE_UNAVAILABLE
    lim = inp.limits_for(t.account)
    if t.qty > lim.max_order_qty:
        return ReasonCode.LIMIT_MAX_QTY
    rc = _price_reason(lim, t, ref)
    if rc:
        return rc
    px = t.price if t.ord_type is OrdType.LIMIT else ref
    if t.qty * px > lim.max_order_notional:
        return ReasonCode.LIMIT_MAX_NOTIONAL
    if not replace:
        last = inp.recent.get((t.account, t.symbol, int(t.side), t.qty, t.price))
        if last is not None and now_ns - last < lim.duplicate_window_ns:
            return ReasonCode.LIMIT_DUPLICATE_ORDER
    dq = inp.rate.get(t.account)
    if dq:
        while dq and now_ns - dq[0] >= NS_PER_S:
            dq.popleft()  # forgetting timestamps older than the window changes no decision
        if len(dq) >= lim.max_orders_per_sec:
            return ReasonCode.LIMIT_ORDER_RATE
    if t.account not in inp.bp:
        return ReasonCode.BP_UNKNOWN
    open_after = inp.open_notional.get(t.account, 0) - old_notional + new_leaves * px
    if open_after > inp.bp[t.account]:
        return ReasonCode.BP_INSUFFICIENT
    if open_after > lim.credit_threshold:
        return ReasonCode.LIMIT_CREDIT_THRESHOLD
    return _exposure_reason(inp, lim, t, delta, old_leaves)


def check_new(inp: RiskInputs, t: OrderTerms, now_ns: int) -> ReasonCode:
    """Gate a new order. Returns OK or the reason it is rejected."""
    return _common(inp, t, new_leaves=t.qty, old_leaves=0, old_notional=0, extra_short=t.qty, now_ns=now_ns,
                   replace=False)


def check_replace(inp: RiskInputs, t: OrderTerms, *, old_leaves: int, old_price: int, filled: int,
                  now_ns: int) -> ReasonCode:
    """Gate the new terms of a cancel/replace: the price collar and every other control apply again.

    `t.qty` is the new total quantity, so the new leaves are t.qty - filled.
    """
    ref = inp.ref_price.get(t.symbol, 0)
    new_leaves = t.qty - filled
    return _common(inp, t, new_leaves=new_leaves, old_leaves=old_leaves, old_notional=old_leaves * (old_price or ref),
                   extra_short=new_leaves - old_leaves, now_ns=now_ns, replace=True)
