"""Intraday recon's inputs and its breaks in the ops store: the live journal's fills of the day, the drop copy
(flows.fixdrop.store), and `intraday_breaks` upserted by id so each run of the day updates the same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from core_bridge.journal.reader import iter_records
from flows.dates import NY
from flows.recon.frames import EXEC_COLUMNS, empty
from flows.recon.intraday import IntradayResult
from flows.recon.synthetic import fills_from_events
from flows.store.db import session_scope
from flows.store.models import IntradayBreak, IntradayBreakStatus


def day_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[start, end) of the New York calendar day in UTC ns (a DST day is 23 or 25 hours long)."""
    nxt = day + dt.timedelta(days=1)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=NY)
    end = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=NY)
    return int(start.timestamp()) * 1_000_000_000, int(end.timestamp()) * 1_000_000_000


def journal_fills(journal_dir: Path, day: dt.date) -> pd.DataFrame:
    """The day's fills as the capture has journaled them so far (sealed and active segments)."""
    if not journal_dir.exists():
        return empty(EXEC_COLUMNS)
    batches = list(iter_records(journal_dir))
    if not batches:
        return empty(EXEC_COLUMNS)
    events = np.concatenate(batches)
    lo, hi = day_bounds_ns(day)
    events = events[(events["ts_ns"] >= lo) & (events["ts_ns"] < hi)]
    return fills_from_events(events, day.isoformat())


def open_breaks(engine: Engine, day: dt.date) -> pd.DataFrame:
    ib = IntradayBreak
    with session_scope(engine, readonly=True) as s:
        rows = s.execute(select(ib.break_id, ib.btype, ib.exec_id)
                         .where(ib.trade_date == day, ib.status == IntradayBreakStatus.OPEN.value)).all()
    return pd.DataFrame(rows, columns=["break_id", "btype", "exec_id"]).astype("str")


def _opt(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def save(engine: Engine, day: dt.date, result: IntradayResult, now_ns: int) -> None:
    """Upsert every break found now (a signed-off one stays signed off) and close those that resolved."""
    ib = IntradayBreak
    with session_scope(engine) as s:
        known = {b.break_id: b for b in s.execute(select(ib).where(ib.trade_date == day)).scalars()}
        for r in result.breaks.to_dict("records"):
            b = known.get(r["break_id"])
            if b is None:
                s.add(ib(break_id=r["break_id"], trade_date=day, btype=r["btype"], exec_id=r["exec_id"],
                         account=r["account"], symbol=r["symbol"], internal_qty=_opt(r["internal_qty"]),
                         clearing_qty=_opt(r["clearing_qty"]), internal_price=_opt(r["internal_price"]),
                         clearing_price=_opt(r["clearing_price"]), detail=str(r["detail"])[:200],
                         event_ns=int(r["event_ns"]), first_seen_ns=now_ns, last_seen_ns=now_ns,
                         status=IntradayBreakStatus.OPEN.value, closed_ns=None, close_reason=""))
                continue
            b.last_seen_ns = now_ns
            b.clearing_qty, b.clearing_price = _opt(r["clearing_qty"]), _opt(r["clearing_price"])
            b.detail = str(r["detail"])[:200]
            if b.status == IntradayBreakStatus.CLOSED.value:  # it came back: open again, same id
                b.status, b.closed_ns, b.close_reason = IntradayBreakStatus.OPEN.value, None, ""
        for c in result.closed.to_dict("records"):
            b = known.get(c["break_id"])
            if b is not None and b.status == IntradayBreakStatus.OPEN.value:
                b.status, b.closed_ns, b.close_reason = IntradayBreakStatus.CLOSED.value, now_ns, c["reason"]


def breaks_of(engine: Engine, day: dt.date) -> list[dict[str, Any]]:
    """Every intraday break of the day (open and closed), oldest first, for reports."""
    ib = IntradayBreak
    with session_scope(engine, readonly=True) as s:
        rows = s.execute(select(ib).where(ib.trade_date == day).order_by(ib.first_seen_ns, ib.break_id)).scalars()
        return [{"break_id": b.break_id, "btype": b.btype, "exec_id": b.exec_id, "account": b.account,
                 "symbol": b.symbol, "internal_qty": b.internal_qty, "clearing_qty": b.clearing_qty,
                 "internal_price": b.internal_price, "clearing_price": b.clearing_price, "detail": b.detail,
                 "status": b.status, "close_reason": b.close_reason, "event_ns": b.event_ns,
                 "first_seen_ns": b.first_seen_ns, "last_seen_ns": b.last_seen_ns, "closed_ns": b.closed_ns}
                for b in rows]
