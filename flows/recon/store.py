"""Reconciliation in the ops store: journal inputs out, breaks and runs in, sign-offs recorded.

Rules that make a date re-runnable (design principle 4):
- A break row is keyed by its deterministic id; a re-run updates the row, never duplicates it.
- A resolved or signed-off break stays so: re-finding it changes nothing about it.
- `prior` for date D = breaks first seen before D that were open at the start of D: still open, or closed by
  a run of D or later (closing sets `last_seen` to the closing date), so a re-run of D closes the same ones.
- Sign-off closes a break as of its `last_seen`: if a position break is found again on a later date, that is
  a new break for that date.

Store statuses are coarse (open / resolved / signed_off); the recon status (OPEN / CARRIED / AUTO_RESOLVED /
SIGNED_OFF), key, level, quantities and the resolution rule live in `details`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from core_bridge.protocol import Side
from flows.errors import ReconError
from flows.recon.aging import age_business_days
from flows.recon.breaks import BreakStatus
from flows.recon.frames import BREAK_COLUMNS, EXEC_COLUMNS, POSITION_COLUMNS, conform, empty
from flows.recon.reconcile import ReconResult
from flows.store.models import BreakStatus as StoreStatus
from flows.store.models import (
    Execution,
    OrderEvent,
    Position,
    PositionSource,
    ReconBreak,
    ReconRun,
    ReconRunStatus,
    SodPosition,
)

_DETAIL_COLS = ["key", "level", "cusip", "exec_id", "internal_qty", "clearing_qty", "core_qty", "internal_price",
                "clearing_price", "detail"]
_STORE_STATUS = {
    BreakStatus.OPEN.value: StoreStatus.OPEN.value,
    BreakStatus.CARRIED.value: StoreStatus.OPEN.value,
    BreakStatus.AUTO_RESOLVED.value: StoreStatus.RESOLVED.value,
    BreakStatus.SIGNED_OFF.value: StoreStatus.SIGNED_OFF.value,
}


def _d(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


# --- journal-side inputs -----------------------------------------------------------------------------------


def load_sod(session: Session, day: str, cusips: dict[str, str]) -> pd.DataFrame:
    """SOD trade-date positions for `day`; none loaded is a missing source (fail closed, never flat)."""
    rows = session.execute(
        select(SodPosition.account, SodPosition.cusip, SodPosition.td_qty).where(SodPosition.business_date == _d(day))
    ).all()
    if not rows:
        raise ReconError(f"no SOD positions loaded for {day} (run sod-load first); refusing to assume flat")
    frame = pd.DataFrame(rows, columns=["account", "cusip", "qty"])
    return conform(frame, POSITION_COLUMNS, f"sod_positions {day}")


def load_executions(session: Session, trade_dates: list[str], cusips: dict[str, str],
                    require_journal: bool = True) -> pd.DataFrame:
    """Fills of the given trade dates from `executions`; with `require_journal`, the day's journal must exist."""
    dates = [_d(x) for x in trade_dates]
    if require_journal:
        for d in dates:
            seen = session.execute(select(OrderEvent.seq).where(OrderEvent.trade_date == d).limit(1)).first()
            if seen is None:
                raise ReconError(f"no journal events loaded for {d} (run eod-capture first); refusing to assume "
                                 "no trading")
    rows = session.execute(
        select(Execution.exec_id, Execution.order_id, Execution.account, Execution.symbol, Execution.side,
               Execution.qty, Execution.price, Execution.ts_ns, Execution.trade_date)
        .where(Execution.trade_date.in_(dates))
        .order_by(Execution.epoch, Execution.seq)
    ).all()
    if not rows:
        return empty(EXEC_COLUMNS)
    f = pd.DataFrame(rows, columns=["exec_id", "order_id", "account", "symbol", "side", "qty", "price", "ts_ns",
                                    "trade_date"])
    unknown = sorted(set(f["symbol"]) - set(cusips))
    if unknown:
        raise ReconError(f"executions: symbol(s) {', '.join(unknown)} not in the security master")
    f["cusip"] = f["symbol"].map(cusips)
    f["side"] = np.where(f["side"].to_numpy() == int(Side.BUY), 1, -1)
    f["exec_id"] = f["exec_id"].astype(str)
    f["order_id"] = f["order_id"].astype(str)
    f["trade_date"] = f["trade_date"].map(lambda d: d.isoformat())
    return conform(f, EXEC_COLUMNS, "executions")


# --- breaks -------------------------------------------------------------------------------------------------


def _row_to_dict(b: ReconBreak) -> dict[str, Any]:
    det = dict(b.details or {})
    return {
        "break_id": b.break_id, "trade_date": b.first_seen.isoformat(), "btype": b.break_type,
        "key": det.get("key", ""), "level": det.get("level", ""), "status": det.get("recon_status", ""),
        "account": b.account or "", "cusip": det.get("cusip", ""), "symbol": b.symbol or "",
        "exec_id": det.get("exec_id", ""), "internal_qty": det.get("internal_qty"),
        "clearing_qty": det.get("clearing_qty"), "core_qty": det.get("core_qty"),
        "internal_price": det.get("internal_price"), "clearing_price": det.get("clearing_price"),
        "detail": det.get("detail", ""),
        # store-side columns
        "first_seen": b.first_seen.isoformat(), "last_seen": b.last_seen.isoformat(), "age_days": b.age_days,
        "resolution": (det.get("resolution") or {}).get("rule", ""),
        "resolved_on": (det.get("resolution") or {}).get("resolved_on", ""),
        "signoff_by": b.signoff_by or "", "signoff_at": b.signoff_at.isoformat() if b.signoff_at else "",
        "signoff_note": b.signoff_note or "",
    }


STORED_COLUMNS = list(BREAK_COLUMNS) + ["first_seen", "last_seen", "age_days", "resolution", "resolved_on",
                                        "signoff_by", "signoff_at", "signoff_note"]


def _frame(rows: list[ReconBreak]) -> pd.DataFrame:
    if not rows:
        out = empty(BREAK_COLUMNS)
        for c in STORED_COLUMNS[len(BREAK_COLUMNS):]:
            out[c] = pd.Series([], dtype="int64" if c == "age_days" else "str")
        return out
    f = pd.DataFrame([_row_to_dict(r) for r in rows])
    f = f.astype({c: t for c, t in BREAK_COLUMNS.items()})
    return f.sort_values(["trade_date", "btype", "key"], kind="stable", ignore_index=True)[STORED_COLUMNS]


def load_prior(session: Session, day: str) -> pd.DataFrame:
    d = _d(day)
    rows = session.scalars(
        select(ReconBreak).where(
            ReconBreak.first_seen < d,
            or_(ReconBreak.status == StoreStatus.OPEN.value, ReconBreak.last_seen >= d),
        )
    ).all()
    return _frame(list(rows))[list(BREAK_COLUMNS)]


def load_breaks(session: Session, *, as_of: str | None = None, open_only: bool = False) -> pd.DataFrame:
    """Breaks first seen on or before `as_of` (all dates if None), optionally only the open ones."""
    q = select(ReconBreak)
    if as_of is not None:
        q = q.where(ReconBreak.first_seen <= _d(as_of))
    if open_only:
        q = q.where(ReconBreak.status == StoreStatus.OPEN.value)
    return _frame(list(session.scalars(q).all()))


def _details(row: pd.Series) -> dict[str, Any]:
    det: dict[str, Any] = {}
    for c in _DETAIL_COLS:
        v = row[c]
        det[c] = None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else (int(v) if c.endswith(
            ("_qty", "_price")) else str(v))
    det["recon_status"] = str(row["status"])
    return det


def start_run(session: Session, day: str, now: dt.datetime) -> int:
    run = ReconRun(business_date=_d(day), started_at=now, status=ReconRunStatus.RUNNING.value, summary={})
    session.add(run)
    session.flush()
    return int(run.id)


def finish_run(session: Session, run_id: int, status: ReconRunStatus, summary: dict[str, Any],
               now: dt.datetime) -> None:
    run = session.get(ReconRun, run_id)
    if run is None:
        raise ReconError(f"recon run {run_id} vanished")
    run.status = status.value
    run.summary = summary
    run.finished_at = now


def save_core_snapshot(session: Session, day: str, core: pd.DataFrame, symbols: dict[str, str]) -> None:
    """Keep the core positions a run of `day` used (evidence, and what a re-run of `day` reconciles against:
    the core is live state, so a later snapshot would not be the same input)."""
    d = _d(day)
    session.execute(delete(Position).where(Position.business_date == d,
                                           Position.source == PositionSource.CORE.value))
    for acct, cusip, qty in core[["account", "cusip", "qty"]].itertuples(index=False):
        session.add(Position(business_date=d, account=acct, symbol=symbols.get(cusip, cusip), qty=int(qty),
                             source=PositionSource.CORE.value))


def load_core_snapshot(session: Session, day: str, cusips: dict[str, str]) -> pd.DataFrame | None:
    """The core positions an earlier successful run of `day` used, or None if no run of `day` succeeded."""
    d = _d(day)
    done = session.execute(select(ReconRun.id).where(
        ReconRun.business_date == d,
        ReconRun.status.in_([ReconRunStatus.CLEAN.value, ReconRunStatus.BREAKS.value])).limit(1)).first()
    if done is None:
        return None
    rows = session.execute(select(Position.account, Position.symbol, Position.qty).where(
        Position.business_date == d, Position.source == PositionSource.CORE.value)).all()
    frame = pd.DataFrame(rows, columns=["account", "symbol", "qty"])
    unknown = sorted(set(frame["symbol"]) - set(cusips))
    if unknown:
        raise ReconError(f"stored core snapshot of {day}: symbol(s) {', '.join(unknown)} not in the security master")
    frame["cusip"] = frame["symbol"].map(cusips)
    return conform(frame, POSITION_COLUMNS, f"stored core snapshot {day}")


def save_result(session: Session, result: ReconResult, run_id: int) -> list[str]:
    """Upsert today's breaks and apply today's resolutions; returns the ids of breaks new to the store."""
    day = _d(result.trade_date)
    new: list[str] = []
    ids = result.breaks["break_id"].tolist()
    existing = {b.break_id: b for b in session.scalars(select(ReconBreak).where(ReconBreak.break_id.in_(ids)))}
    for _, row in result.breaks.iterrows():
        b = existing.get(row["break_id"])
        if b is None:
            new.append(str(row["break_id"]))
            session.add(ReconBreak(
                break_id=row["break_id"], run_id=run_id, business_date=_d(row["trade_date"]),
                break_type=row["btype"], account=row["account"] or None, symbol=row["symbol"] or None,
                status=_STORE_STATUS[row["status"]], first_seen=_d(row["trade_date"]), last_seen=day,
                age_days=0, details=_details(row),
            ))
        elif b.status == StoreStatus.OPEN.value:
            b.run_id = run_id
            b.last_seen = max(b.last_seen, day)
            b.details = _details(row)
        # resolved / signed off: stays exactly as it was
    res_ids = result.resolutions["break_id"].tolist()
    to_close = {b.break_id: b for b in session.scalars(select(ReconBreak).where(ReconBreak.break_id.in_(res_ids)))}
    for _, r in result.resolutions.iterrows():
        b = to_close.get(r["break_id"])
        if b is None or b.status != StoreStatus.OPEN.value:
            continue
        b.status = StoreStatus.RESOLVED.value
        b.run_id = run_id
        b.last_seen = max(b.last_seen, day)
        b.details = dict(b.details or {}) | {
            "recon_status": BreakStatus.AUTO_RESOLVED.value,
            "resolution": {"rule": r["rule"], "resolved_on": r["resolved_on"], "detail": r["detail"]},
        }
    session.flush()
    refresh_ages(session, result.trade_date)
    return sorted(new)


def refresh_ages(session: Session, as_of: str) -> None:
    """Age every open break first seen on or before `as_of` in business days."""
    rows = session.scalars(select(ReconBreak).where(ReconBreak.status == StoreStatus.OPEN.value,
                                                    ReconBreak.first_seen <= _d(as_of))).all()
    if not rows:
        return
    ages = age_business_days(pd.Series([r.first_seen.isoformat() for r in rows]), as_of)
    for r, a in zip(rows, ages, strict=True):
        r.age_days = int(a)


def signoff(session: Session, break_id: str, who: str, note: str, now: dt.datetime) -> dict[str, Any]:
    """Close an open break by a person; who, when (UTC) and note are kept as evidence."""
    if not who.strip() or not note.strip():
        raise ReconError("sign-off needs a name (--who) and a note (--note)")
    if now.tzinfo is None:
        raise ReconError("sign-off time must be timezone-aware UTC")
    b = session.get(ReconBreak, break_id)
    if b is None:
        raise ReconError(f"no break {break_id}")
    if b.status != StoreStatus.OPEN.value:
        by = f" by {b.signoff_by} at {b.signoff_at:%Y-%m-%dT%H:%M:%SZ}" if b.signoff_by and b.signoff_at else ""
        raise ReconError(f"break {break_id} is already {b.status}{by}")
    b.status = StoreStatus.SIGNED_OFF.value
    b.signoff_by = who.strip()
    b.signoff_at = now.astimezone(dt.UTC)
    b.signoff_note = note.strip()
    b.details = dict(b.details or {}) | {
        "recon_status": BreakStatus.SIGNED_OFF.value,
        "resolution": {"rule": "SIGNOFF", "resolved_on": b.last_seen.isoformat(), "detail": note.strip()},
    }
    session.flush()
    return _row_to_dict(b)


def history(session: Session, until: str, days: int = 10) -> list[tuple[str, int, int]]:
    """(date, open breaks at the end of that date's last good run, breaks first seen that date) for the last
    `days` run dates up to `until`. Stable under re-runs: both figures are state, not "new in this run"."""
    runs = session.scalars(
        select(ReconRun).where(ReconRun.business_date <= _d(until),
                               ReconRun.status.in_([ReconRunStatus.CLEAN.value, ReconRunStatus.BREAKS.value]))
        .order_by(ReconRun.business_date, ReconRun.id)
    ).all()
    last: dict[dt.date, ReconRun] = {}
    for r in runs:
        last[r.business_date] = r
    dates = sorted(last)[-days:]
    if not dates:
        return []
    firsts: dict[dt.date, int] = {
        first: int(n) for first, n in session.execute(
            select(ReconBreak.first_seen, func.count()).where(ReconBreak.first_seen.in_(dates))
            .group_by(ReconBreak.first_seen)
        ).all()
    }
    return [(d.isoformat(), int(last[d].summary.get("open_breaks", 0)), int(firsts.get(d, 0))) for d in dates]
