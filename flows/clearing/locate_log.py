"""The locate log (Reg SHO 203(b)(1)(iii) documented compliance, kept as a 17a-4 record) and the day's usage.

One firm-level grant per symbol and day: id `<date>:<symbol>` (derived, so a re-run finds the same row),
granted when the locates flow first ran, expiring at the end of the day in New York. Usage and the order
ids that consumed it are filled from the day's short-sale executions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from core_bridge.protocol import Side
from flows.clearing.shortsale import Grant
from flows.dates import NY
from flows.store.db import session_scope
from flows.store.models import Execution, LocateLog

FIRM_ACCOUNT = "FIRM"  # locates are pooled firm-wide, as the core enforces them per symbol


def locate_id(day: dt.date, symbol: str) -> str:
    return f"{day.isoformat()}:{symbol}"


def end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=NY).astimezone(dt.UTC)


def record_grants(engine: Engine, day: dt.date, grants: Mapping[str, Grant], now: dt.datetime) -> int:
    """Insert new grants; update a grant whose quantity or source changed; leave identical ones untouched."""
    changed = 0
    with session_scope(engine) as s:
        existing = {r.locate_id: r for r in s.scalars(select(LocateLog).where(LocateLog.business_date == day))}
        for sym, g in sorted(grants.items()):
            lid = locate_id(day, sym)
            row = existing.get(lid)
            if row is None:
                s.add(LocateLog(locate_id=lid, ts=now, business_date=day, account=FIRM_ACCOUNT, symbol=sym,
                                cusip=g.cusip, requested=g.granted, granted=g.granted, source=g.source[:32],
                                method=g.method, expiry=end_of_day(day), used=0, order_ids=[]))
                changed += 1
            elif (row.granted, row.source, row.method) != (g.granted, g.source[:32], g.method):
                row.granted, row.requested, row.source, row.method = g.granted, g.granted, g.source[:32], g.method
                changed += 1
    return changed


@dataclass(frozen=True)
class ShortFill:
    """One short-sale execution that consumed a locate: when, how many shares, which order and account."""

    ts_ns: int
    qty: int
    order_id: int
    account: str


@dataclass
class ShortUsage:
    symbol: str
    qty: int = 0
    order_ids: list[int] = field(default_factory=list)
    fills: list[ShortFill] = field(default_factory=list)


def short_sales(engine: Engine, day: dt.date) -> dict[str, ShortUsage]:
    out: dict[str, ShortUsage] = {}
    with session_scope(engine) as s:
        rows = s.execute(select(Execution.symbol, Execution.qty, Execution.order_id, Execution.ts_ns,
                                Execution.account)
                         .where(Execution.trade_date == day, Execution.side == int(Side.SHORT))
                         .order_by(Execution.ts_ns, Execution.seq)).all()
    for sym, qty, oid, ts, account in rows:
        u = out.setdefault(sym, ShortUsage(sym))
        u.qty += int(qty)
        u.fills.append(ShortFill(int(ts), int(qty), int(oid), str(account)))
        if int(oid) not in u.order_ids:
            u.order_ids.append(int(oid))
    return out


def record_usage(engine: Engine, day: dt.date, usage: Mapping[str, ShortUsage]) -> None:
    with session_scope(engine) as s:
        for row in s.scalars(select(LocateLog).where(LocateLog.business_date == day)):
            u = usage.get(row.symbol)
            used, oids = (u.qty, sorted(u.order_ids)) if u else (0, [])
            if row.used != used or list(row.order_ids or []) != oids:
                row.used, row.order_ids = used, oids
