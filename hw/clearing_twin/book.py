"""The clearing twin's books: what the clearer believes the firm holds, derived from what the twin core traded.

SOD(D) = EOD(previous session); EOD(D) = SOD(D) + D's fills; settle-date quantity = trade-date quantity
less the fills not yet settled (T+1: the last session's fills settle on D). Balances are derived from the
positions marked at reference prices (the twin has no P&L: equity is each account's capital base).
Everything is a pure function of its inputs, so a re-published day is byte-identical.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from core_bridge.protocol import PRICE_SCALE, Side
from hw.clearing_twin.files import BalanceRow, PositionRow, TradeRow
from hw.refdata import ACCOUNTS, ACCOUNTS_BY_ID, SECURITIES, SECURITIES_BY_SYMBOL

Book = dict[str, dict[str, int]]  # core account -> symbol -> signed shares

CAPITAL_BASE = Decimal("5000000.00")  # each prop account's equity at the clearer
MULTIPLIER = Decimal("4.00")  # clearer's day-trading multiplier on (equity - house requirement)
HAIRCUT = Decimal("0.15")  # 15c3-1(c)(2)(vi)(J) equity haircut, used as the house requirement
CENTS = Decimal("0.01")

VENUE_MIC = {1: "XNAS", 2: "XNYS", 3: "ARCX"}


@dataclass(frozen=True)
class Fill:
    """One execution as the clearer receives it (from the twin core's drop copy)."""

    exec_id: int
    order_id: int
    ts_ns: int
    account: str  # core account code
    symbol: str
    side: Side
    qty: int
    price: int  # PRICE_SCALE fixed point
    venue: int = 1

    @property
    def signed_qty(self) -> int:
        return self.qty if self.side == Side.BUY else -self.qty


def initial_book(seed: int = 7) -> Book:
    """A deterministic opening book: a few round-lot longs and shorts per account."""
    book: Book = {}
    for acct in ACCOUNTS:
        holdings: dict[str, int] = {}
        for sec in SECURITIES:
            h = int.from_bytes(hashlib.sha256(f"{seed}:{acct.account}:{sec.symbol}".encode()).digest()[:4], "big")
            if h % 3 == 0:
                lots = 1 + (h >> 8) % 20
                sign = -1 if (h >> 16) % 5 == 0 else 1
                holdings[sec.symbol] = sign * lots * 100
        book[acct.account] = holdings
    return book


def apply_fills(book: Mapping[str, Mapping[str, int]], fills: Iterable[Fill]) -> Book:
    out: Book = {a: dict(h) for a, h in book.items()}
    for f in fills:
        acct = out.setdefault(f.account, {})
        acct[f.symbol] = acct.get(f.symbol, 0) + f.signed_qty
    return {a: {s: q for s, q in h.items() if q != 0} for a, h in out.items()}


def net_fills(fills: Iterable[Fill]) -> Book:
    return apply_fills({}, fills)


def position_rows(book: Mapping[str, Mapping[str, int]],
                  unsettled: Mapping[str, Mapping[str, int]]) -> list[PositionRow]:
    """Detail records sorted by (clearing account, CUSIP); flat positions are not reported."""
    rows = []
    for acct_id, holdings in book.items():
        acct = ACCOUNTS_BY_ID[acct_id]
        for sym in set(holdings) | set(unsettled.get(acct_id, {})):
            td = holdings.get(sym, 0)
            sd = td - unsettled.get(acct_id, {}).get(sym, 0)
            if td == 0 and sd == 0:
                continue
            sec = SECURITIES_BY_SYMBOL[sym]
            rows.append(PositionRow(acct.clearing_account, sec.cusip, sym, td, sd, sec.ref_price))
    rows.sort(key=lambda r: (r.clearing_account, r.cusip))
    return rows


def _money(v: Decimal) -> Decimal:
    return v.quantize(CENTS, rounding=ROUND_HALF_EVEN)


def balance_rows(book: Mapping[str, Mapping[str, int]], previous: Mapping[str, Mapping[str, int]] | None = None
                 ) -> list[BalanceRow]:
    def dtbp_of(holdings: Mapping[str, int]) -> tuple[Decimal, ...]:
        lmv = sum((Decimal(q * SECURITIES_BY_SYMBOL[s].ref_price) / PRICE_SCALE for s, q in holdings.items() if q > 0),
                  Decimal(0))
        smv = sum((Decimal(-q * SECURITIES_BY_SYMBOL[s].ref_price) / PRICE_SCALE for s, q in holdings.items()
                   if q < 0), Decimal(0))
        house = HAIRCUT * max(lmv, smv) + HAIRCUT * max(Decimal(0), min(lmv, smv) - Decimal("0.25") * max(lmv, smv))
        exch = Decimal("0.25") * lmv + Decimal("0.30") * smv
        dtbp = MULTIPLIER * max(Decimal(0), CAPITAL_BASE - house)
        return _money(lmv), _money(smv), _money(house), _money(exch), _money(dtbp)

    rows = []
    for acct in ACCOUNTS:
        lmv, smv, house, exch, dtbp = dtbp_of(book.get(acct.account, {}))
        y_dtbp = dtbp_of((previous or book).get(acct.account, {}))[4]
        cash = _money(CAPITAL_BASE - lmv + smv)
        rows.append(BalanceRow(acct.clearing_account, CAPITAL_BASE, lmv, smv, cash, Decimal("0.00"),
                               Decimal("0.00"), MULTIPLIER, exch, house, dtbp, y_dtbp))
    return rows


def trade_rows(trade_date: dt.date, settle: dt.date, fills: Iterable[Fill], short_sides: Mapping[int, str],
               locate_ids: Mapping[str, tuple[str, str]]) -> list[TradeRow]:
    """`short_sides` maps order id -> side qualifier; `locate_ids` maps symbol -> (locate id, source)."""
    rows = []
    for f in sorted(fills, key=lambda f: (f.ts_ns, f.exec_id)):
        sec = SECURITIES_BY_SYMBOL[f.symbol]
        qualifier = {Side.SHORT: "short", Side.SHORT_EXEMPT: "short_exempt"}.get(f.side, "")
        loc_id, loc_src = locate_ids.get(f.symbol, ("", "")) if qualifier == "short" else ("", "")
        rows.append(TradeRow(
            timestamp_ms=f.ts_ns // 1_000_000, client_trade_id=f"T{trade_date:%Y%m%d}-{f.exec_id}",
            trade_date=trade_date, clearing_account=ACCOUNTS_BY_ID[f.account].clearing_account, quantity=f.qty,
            price=f.price, symbol=f.symbol, cusip=sec.cusip, direction="buy" if f.side == Side.BUY else "sell",
            qualifier=short_sides.get(f.order_id, qualifier), mic=VENUE_MIC.get(f.venue, "XNAS"),
            order_id=f.order_id, exec_id=f.exec_id, locate_id=loc_id, locate_source=loc_src,
            settlement_date=settle,
        ))
    return rows
