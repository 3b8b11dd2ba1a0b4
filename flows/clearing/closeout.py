"""Reg SHO Rule 204 close-outs: each fail's deadline, whether purchases closed it in time, and the penalty box.

Pure functions over the fails (flows/clearing/ftd.py), the firm's purchases (from the journal's executions)
and the settlement calendar (flows/calendars.py: DTC business days, bank holidays excluded).

`CLOSEOUT_RULES` is the one table of deadlines (../shared/domain/clearing_and_regulation.md §3.1). Where a
detail is not verified in the sources the digest lists, its row says so (`verified=False`) and the report
prints that: change the row, not the code.

- A fail closes when the firm's purchases of the security, from the fail's settlement date up to the deadline,
  cover its quantity. Purchases go to the open fails of the symbol in deadline order, each share once.
- A fail past its deadline and not closed by then puts the security in the penalty box (204(b)): until the
  clearer's file stops listing the fail (the close-out purchase has settled), shorts need a pre-borrow.
  Fail closed: a deadline at today's open counts as past for the run before the open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flows.calendars import add_settlement_days, is_settlement_day, session_open
from flows.clearing.ftd import Fail

NY = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class CloseoutRule:
    sale_type: str
    description: str
    settlement_days_after_settlement: int | None  # deadline: the open of S + n settlement days
    calendar_days_after_trade: int | None  # ... or the open of T + n calendar days (next settlement day)
    rule: str
    verified: bool
    note: str = ""


CLOSEOUT_RULES: dict[str, CloseoutRule] = {r.sale_type: r for r in (
    CloseoutRule("short", "short sale", 1, None, "204(a)", True,
                 "beginning of regular trading hours on the settlement day after settlement date (T+2 under T+1)"),
    CloseoutRule("long", "long sale", 3, None, "204(a)", True,
                 "beginning of regular trading hours on the 3rd consecutive settlement day after settlement date"),
    CloseoutRule("market_making", "bona fide market making", 3, None, "204(a)", True,
                 "as a long sale: the 3rd consecutive settlement day after settlement date"),
    CloseoutRule("rule144", "Rule 144 restricted securities (long sale)", None, 35, "204(a)", False,
                 "35 calendar days; counted here from the trade date and rolled forward to the next settlement "
                 "day's open (start day and roll-forward unverified)"),
)}
# Also unverified and kept here so it is easy to change: purchases count from the fail's settlement date
# (00:00 New York) on; 204(e) pre-fail credit for purchases before the fail arises is not modelled.
PURCHASE_WINDOW_NOTE = ("purchases count from the settlement date (00:00 ET) to the deadline; 204(e) pre-fail "
                        "credit is not applied (unverified)")

SALE_TYPES = frozenset(CLOSEOUT_RULES)


def deadline_day(fail: Fail) -> dt.date:
    rule = CLOSEOUT_RULES[fail.sale_type]
    if rule.settlement_days_after_settlement is not None:
        return add_settlement_days(fail.settlement_date, rule.settlement_days_after_settlement)
    assert rule.calendar_days_after_trade is not None
    d = fail.trade_date + dt.timedelta(days=rule.calendar_days_after_trade)
    while not is_settlement_day(d):
        d += dt.timedelta(days=1)
    return d


def deadline(fail: Fail) -> dt.datetime:
    """The close-out deadline: the beginning of regular trading hours (09:30 ET) of `deadline_day`, in UTC."""
    return session_open(deadline_day(fail))


@dataclass(frozen=True)
class Purchase:
    symbol: str
    ts_ns: int
    qty: int
    order_id: int


@dataclass(frozen=True)
class FailStatus:
    fail: Fail
    deadline: dt.datetime
    bought_by_deadline: int
    status: str  # closed | open | past_deadline
    closed_by: tuple[int, ...]  # order ids of the purchases that closed it

    @property
    def in_penalty_box(self) -> bool:
        return self.status == "past_deadline"


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def evaluate(fails: Iterable[Fail], purchases: Iterable[Purchase], as_of: dt.datetime) -> list[FailStatus]:
    """Each fail's status at `as_of` (aware). A deadline at or before `as_of` that the purchases did not meet
    makes the fail past_deadline."""
    by_symbol: dict[str, list[list[int]]] = {}  # symbol -> [[ts_ns, qty left, order_id], ...] in time order
    for p in sorted(purchases, key=lambda p: (p.ts_ns, p.order_id)):
        by_symbol.setdefault(p.symbol, []).append([p.ts_ns, p.qty, p.order_id])
    out: list[FailStatus] = []
    ordered = sorted(fails, key=lambda f: (deadline(f), f.settlement_date, f.fail_id))
    for f in ordered:
        due = deadline(f)
        start = _ns(dt.datetime.combine(f.settlement_date, dt.time(0), NY))
        need, used = f.quantity, []
        for lot in by_symbol.get(f.symbol, []):
            if need == 0:
                break
            if lot[1] == 0 or lot[0] < start or lot[0] > _ns(due):
                continue
            take = min(need, lot[1])
            lot[1] -= take
            need -= take
            used.append(lot[2])
        bought = f.quantity - need
        status = "closed" if need == 0 else ("past_deadline" if due <= as_of else "open")
        out.append(FailStatus(f, due, bought, status, tuple(used)))
    return sorted(out, key=lambda s: s.fail.fail_id)


def penalty_box(statuses: Iterable[FailStatus], preborrowed: Mapping[str, int]) -> dict[str, int]:
    """Symbol -> shares pre-borrowed for the firm (0: none yet) for every symbol with a fail past deadline."""
    return {s: int(preborrowed.get(s, 0)) for s in sorted({x.fail.symbol for x in statuses if x.in_penalty_box})}


def before_open(day: dt.date) -> dt.datetime:
    """The evaluation time of the morning run: today's open, so a deadline due at the open is past (fail closed)."""
    return session_open(day)
