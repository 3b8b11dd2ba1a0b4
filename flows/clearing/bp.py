"""Buying power: available = min(clearing BP, the firm's own 15c3-1 haircut capacity) − working-order reserve.

Domain doc §2: the clearer's figure (day-trading BP from the balances file) is one limit; the firm must
also cover haircuts moment to moment against its excess net capital (FINRA interp. 15c3-1(a)/001), so the
firm-wide haircut on the live prop book caps what any account may add. All math is Decimal; a missing
input gives a restrictive value (0), never a guess (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from core_bridge.protocol import PRICE_SCALE

HAIRCUT = Decimal("0.15")  # 15c3-1(c)(2)(vi)(J) equities
LESSER_SIDE_FREE = Decimal("0.25")  # the lesser side up to 25 % of the greater carries no extra haircut
CONCENTRATION_SHARE = Decimal("0.10")  # undue concentration: the part of a position above 10 % of TNC
CENT = Decimal("0.01")


@dataclass(frozen=True)
class BpInputs:
    clearing_bp: Decimal | None  # None = no balances row for the date (stale/missing)
    positions: Mapping[str, int] | None  # None = account unknown to the core snapshot
    reserve: Decimal | None  # None = working-order detail unavailable


@dataclass(frozen=True)
class BpResult:
    account: str
    clearing_bp: Decimal
    house_bp: Decimal
    haircut_used: Decimal
    reserve: Decimal
    available: Decimal
    status: str  # ok | restrictive
    problems: tuple[str, ...] = ()


def market_values(positions: Mapping[str, int], marks: Mapping[str, int]) -> tuple[Decimal, Decimal, list[Decimal]]:
    """(long MV, short MV, |MV| per position) at PRICE_SCALE marks; KeyError if a mark is missing."""
    lmv = smv = Decimal(0)
    each = []
    for sym, qty in positions.items():
        if qty == 0:
            continue
        mv = Decimal(qty * marks[sym]) / PRICE_SCALE
        each.append(abs(mv))
        if qty > 0:
            lmv += mv
        else:
            smv -= mv
    return lmv, smv, each


def haircut(lmv: Decimal, smv: Decimal, position_mvs: list[Decimal], tentative_net_capital: Decimal) -> Decimal:
    greater, lesser = max(lmv, smv), min(lmv, smv)
    h = HAIRCUT * greater + HAIRCUT * max(Decimal(0), lesser - LESSER_SIDE_FREE * greater)
    limit = CONCENTRATION_SHARE * tentative_net_capital
    h += sum((HAIRCUT * (mv - limit) for mv in position_mvs if mv > limit), Decimal(0))
    return h


def house_capacity(excess_net_capital: Decimal, haircut_used: Decimal) -> Decimal:
    """Gross notional the firm can still add before its haircut exceeds excess net capital."""
    return max(Decimal(0), (excess_net_capital - haircut_used) / HAIRCUT)


def _cents(v: Decimal) -> Decimal:
    return v.quantize(CENT, rounding=ROUND_DOWN)  # round BP down: never grant a fraction we do not have


def compute_bp(inputs: Mapping[str, BpInputs], marks: Mapping[str, int], excess_net_capital: Decimal,
               tentative_net_capital: Decimal) -> dict[str, BpResult]:
    """Per-account BP. The firm-wide haircut is on the whole book; its capacity is split equally."""
    problems: dict[str, list[str]] = {a: [] for a in inputs}
    firm: dict[str, int] = {}
    for acct, inp in inputs.items():
        if inp.positions is None:
            problems[acct].append("positions unknown")
            continue
        for sym, q in inp.positions.items():
            firm[sym] = firm.get(sym, 0) + q
    missing_marks = sorted(s for s, q in firm.items() if q and s not in marks)
    if missing_marks:
        for acct in inputs:
            problems[acct].append(f"no mark for {', '.join(missing_marks)}")
        firm_h = None
    else:
        lmv, smv, each = market_values(firm, marks)
        firm_h = haircut(lmv, smv, each, tentative_net_capital)
    share = Decimal(1) / max(1, len(inputs))
    out = {}
    for acct, inp in inputs.items():
        if inp.clearing_bp is None:
            problems[acct].append("balances missing for the date")
        if inp.reserve is None:
            problems[acct].append("working-order reserve unknown")
        own_h = Decimal(0)
        if inp.positions is not None and not missing_marks:
            lmv, smv, each = market_values(inp.positions, marks)
            own_h = haircut(lmv, smv, each, tentative_net_capital)
        house = _cents(house_capacity(excess_net_capital, firm_h) * share) if firm_h is not None else Decimal(0)
        clearing = inp.clearing_bp if inp.clearing_bp is not None else Decimal(0)
        reserve = inp.reserve if inp.reserve is not None else Decimal(0)
        if problems[acct]:
            available = Decimal("0.00")
        else:
            available = _cents(max(Decimal(0), min(clearing, house) - reserve))
        out[acct] = BpResult(acct, clearing, house, _cents(own_h), _cents(reserve), available,
                             "restrictive" if problems[acct] else "ok", tuple(problems[acct]))
    return out


def working_reserve(working_orders: list[Mapping[str, object]] | None,
                    orders_working: int) -> dict[str, Decimal] | None:
    """Notional of working orders per account from a core snapshot; None if the detail is missing."""
    if working_orders is None:
        return {} if orders_working == 0 else None
    out: dict[str, Decimal] = {}
    for o in working_orders:
        acct = str(o["account"])
        qty = int(str(o.get("leaves_qty", o.get("qty", 0))))
        price = Decimal(str(o.get("price") or "0"))
        out[acct] = out.get(acct, Decimal(0)) + qty * price
    return out
