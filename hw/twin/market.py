"""Simulated order flow against the three venues, and a whole trading day in one call.

The flow generator plays the firm's strategies: new orders (limit/market, DAY/IOC, buy/sell/short/short
exempt), cancel/replaces, firm cancels, and counterparties that hit resting orders (partial fills). A few
orders are deliberately bad so every path shows up in a realistic day: sub-penny prices (venue rejects),
prices outside the collar (gate rejects, also on replace), short sales in symbols without locates.
Everything is drawn from one `random.Random(seed)`: same arguments, same events, byte for byte.

In-process use (no sockets), for the CAT, recon and store code::

    from hw.twin.market import simulate_day
    day = simulate_day("2026-11-20", n_orders=5_000, seed=7)
    day.events      # numpy array of EVENT_DTYPE, seq 1..N of epoch 1, ts_ns inside 09:30-16:00 New York
    day.state       # TwinState at the close (positions, locates left, limits, ...)
    day.positions   # {account: {symbol: shares}} at the close

    simulate_day(date: str, n_orders: int, seed: int, *, accounts: Sequence[str] | None = None,
                 symbols: Sequence[str] | None = None, epoch: int = 1, state: TwinState | None = None,
                 no_locate_symbols: Sequence[str] = ("TSLA", "PFE")) -> SimDay

`state` defaults to `provisioned_state(date)` (ACTIVE, default limits, $40M BP per account, 100,000 located
shares per symbol) with zero locates for `no_locate_symbols`; SOD positions give every account some long
inventory so sells and REDUCE_ONLY paths have something to reduce. `n_orders` counts new-order attempts
(replaces, cancels and fills come on top). DAY orders still working at 16:00 expire (ORDER_EXPIRED,
CANCEL_EXPIRED); IOC remainders expire at once.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from core_bridge.protocol import PRICE_SCALE, OrdType, Side, TimeInForce, Venue
from hw.refdata import ACCOUNTS, SECURITIES, SECURITIES_BY_SYMBOL
from hw.twin.engine import CoreEngine
from hw.twin.orders import OrderRequest
from hw.twin.state import TwinState, provisioned_state
from hw.twin.venues import ROUTABLE

NY = ZoneInfo("America/New_York")
_CENT = PRICE_SCALE // 100
_LISTING_VENUE = {"Q": Venue.NSDQ, "N": Venue.NYSE, "P": Venue.ARCA}


@dataclass
class FlowMix:
    """Probabilities per step of the generator (the rest of a step is a new order)."""

    replace: float = 0.12
    cancel: float = 0.10
    passive_fill: float = 0.18
    subpenny: float = 0.02  # new order with a sub-penny price -> venue reject
    off_collar: float = 0.02  # price ~10 % away from the reference -> LIMIT_PRICE_COLLAR
    market: float = 0.05
    ioc: float = 0.20


class FlowGenerator:
    """Drives a CoreEngine like the firm's strategies would. Deterministic for a seed."""

    def __init__(self, seed: int, accounts: Sequence[str] | None = None, symbols: Sequence[str] | None = None,
                 mix: FlowMix | None = None, max_working: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.max_working = max_working  # live flow: cancel the oldest order beyond this (no close to expire them)
        self.accounts = list(accounts or [a.account for a in ACCOUNTS])
        self.symbols = list(symbols or [s.symbol for s in SECURITIES])
        self.mix = mix or FlowMix()
        self.clordid = seed * 1_000_000_000
        self.new_orders = 0

    def _price(self, ref: int, side: Side) -> int:
        r = self.rng.random()
        if r < self.mix.off_collar:
            off = ref // 10
            return ref + off if side is Side.BUY else max(_CENT, ref - off)
        # mostly passive (behind the reference), some marketable (through it), whole cents
        ticks = self.rng.randint(-20, 6)
        px = ref + (ticks if side is Side.BUY else -ticks) * _CENT
        px = max(_CENT, px)
        if self.rng.random() < self.mix.subpenny / max(1e-9, 1 - self.mix.off_collar):
            px += 37  # $0.0037: not a whole cent
        return px

    def new_order(self, eng: CoreEngine, now: int) -> None:
        rng = self.rng
        sym = rng.choice(self.symbols)
        sec = SECURITIES_BY_SYMBOL.get(sym)
        ref = eng.risk.ref_price.get(sym, sec.ref_price if sec else PRICE_SCALE)
        r = rng.random()
        side = Side.BUY if r < 0.46 else Side.SELL if r < 0.80 else Side.SHORT if r < 0.96 else Side.SHORT_EXEMPT
        qty = rng.choice((100, 100, 100, 200, 300, 500, 1000))
        is_mkt = rng.random() < self.mix.market
        tif = TimeInForce.IOC if is_mkt or rng.random() < self.mix.ioc else TimeInForce.DAY
        venue = _LISTING_VENUE[sec.listing] if sec and rng.random() < 0.6 else rng.choice(ROUTABLE)
        self.clordid += 1
        self.new_orders += 1
        eng.new_order(OrderRequest("new", self.clordid, rng.choice(self.accounts), sym, side, qty,
                                   0 if is_mkt else self._price(ref, side),
                                   OrdType.MARKET if is_mkt else OrdType.LIMIT, tif, venue), now)

    def step(self, eng: CoreEngine, now: int) -> None:
        """One action: maybe a replace, cancel or counterparty fill of a working order, then a new order."""
        rng, mix = self.rng, self.mix
        if self.max_working is not None and len(eng.orders) > self.max_working:
            eng.cancel(next(iter(eng.orders)), now)
        if eng.orders:
            r = rng.random()
            if r < mix.replace + mix.cancel + mix.passive_fill:
                # deterministic pick: dict order is insertion order
                keys = list(eng.orders)
                o = eng.orders[keys[rng.randrange(len(keys))]]
                if r < mix.replace:
                    ref = eng.risk.ref_price[o.symbol]
                    px = o.price if o.ord_type is OrdType.LIMIT else ref
                    if rng.random() < 0.1:
                        px = ref * 5  # fat finger on the replace: the collar must catch it
                    else:
                        px = max(_CENT, px + rng.choice((-2, -1, 1, 2)) * _CENT)
                    qty = max(o.filled + 100, o.qty + rng.choice((-100, 0, 100)))
                    self.clordid += 1
                    eng.replace(o.order_id, qty, px, OrdType.LIMIT, now, clordid=self.clordid)
                elif r < mix.replace + mix.cancel:
                    eng.cancel(o.order_id, now)
                else:
                    q = min(o.leaves, rng.choice((100, 100, 200)))
                    eng.fill(o.order_id, q, o.price or eng.risk.ref_price[o.symbol], now)
        self.new_order(eng, now)


class SimDay(NamedTuple):
    events: np.ndarray
    state: TwinState
    positions: dict[str, dict[str, int]]


def session_bounds_ns(date: str) -> tuple[int, int]:
    """09:30 and 16:00 America/New_York on `date`, as UTC ns."""
    d = dt.date.fromisoformat(date)
    open_ = dt.datetime(d.year, d.month, d.day, 9, 30, tzinfo=NY)
    close = dt.datetime(d.year, d.month, d.day, 16, 0, tzinfo=NY)
    return int(open_.timestamp()) * 1_000_000_000, int(close.timestamp()) * 1_000_000_000


def simulate_day(date: str, n_orders: int, seed: int, *, accounts: Sequence[str] | None = None,
                 symbols: Sequence[str] | None = None, epoch: int = 1, state: TwinState | None = None,
                 no_locate_symbols: Sequence[str] = ("TSLA", "PFE")) -> SimDay:
    """Run a whole day in virtual time through the same engine the twin serves (see module docstring)."""
    open_ns, close_ns = session_bounds_ns(date)
    if state is None:
        state = provisioned_state(date)
        assert state.locates is not None
        for s in no_locate_symbols:
            state.locates[s] = 0
        accts = list(accounts or [a.account for a in ACCOUNTS])
        syms = list(symbols or [s.symbol for s in SECURITIES])
        rng0 = random.Random(seed ^ 0x5EED)
        state.positions = {a: {s: rng0.choice((0, 0, 500, 1000, 2000)) for s in syms} for a in accts}
        state.positions = {a: {s: q for s, q in p.items() if q} for a, p in state.positions.items()}
        state.sod_date = date
        state.bp = dict.fromkeys(state.bp, "40000000")  # a day of resting DAY orders fits, mostly
    state.epoch = epoch
    eng = CoreEngine(state, started_ns=open_ns)
    gen = FlowGenerator(seed, accounts, symbols)
    span = close_ns - open_ns - 1_000_000_000
    chunks = []
    for i in range(n_orders):
        now = open_ns + (span * i) // max(1, n_orders) + gen.rng.randrange(0, 1_000_000)
        gen.step(eng, now)
        if len(eng.pending) > 50_000:
            chunks.append(eng.drain())
    eng.end_of_day(close_ns)
    chunks.append(eng.drain())
    eng.sync_positions()
    events = np.concatenate(chunks) if chunks else np.zeros(0, dtype=chunks[0].dtype)
    return SimDay(events, eng.state, eng.state.positions)
