"""The drop copy in the ops store: idempotent batch writes by ExecID, busts and corrections applied to the
trade they reference, the session's committed inbound sequence, and the frame intraday recon reads.

One batch is one transaction: its rows, the corrections they carry and the session's `last_seq_in` commit
together, so a restart that resumes from `last_seq_in` + 1 never misses a message and never books one twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from flows.recon.intraday import DROPCOPY_COLUMNS
from flows.store.db import session_scope
from flows.store.models import Execution, FixExecution, FixSession, IntradayBreak

SIDE_SIGN = {"1": 1, "2": -1, "5": -1, "6": -1}


def _insert(engine: Engine, table: Any) -> Any:
    return (postgresql.insert(table) if engine.dialect.name == "postgresql" else sqlite.insert(table))


COLUMNS = ("exec_id", "ref_exec_id", "exec_type", "ord_status", "order_id", "clordid", "account", "exec_broker",
           "clearing_firm", "clearing_account", "symbol", "side", "last_qty", "last_px", "transact_ns", "trade_date",
           "last_mkt", "msg_seq", "poss_dup", "received_ns", "state", "eff_qty", "eff_px", "eff_account",
           "eff_clearing_account", "applied_ns")


def _insert_rows(conn: Any, dialect: str, rows: Sequence[dict[str, Any]]) -> None:
    """One driver-level executemany of plain tuples: SQLAlchemy's per-row bind processing costs more than the
    insert itself at drop-copy rates. SQLite stores Date as ISO text and Boolean as 0/1, as SQLAlchemy would."""
    mark = "?" if dialect == "sqlite" else "%s"
    cols, marks = ", ".join(COLUMNS), ", ".join([mark] * len(COLUMNS))  # constants: nothing from a message
    sql = f"INSERT INTO fix_executions ({cols}) VALUES ({marks}) ON CONFLICT (exec_id) DO NOTHING"  # noqa: S608
    if dialect == "sqlite":
        data = [tuple(r[c] for c in COLUMNS[:15]) + (r["trade_date"].isoformat(), r["last_mkt"], r["msg_seq"],
                                                     int(r["poss_dup"])) + tuple(r[c] for c in COLUMNS[19:])
                for r in rows]
    else:
        data = [tuple(r[c] for c in COLUMNS) for r in rows]
    conn.exec_driver_sql(sql, data)


def write_batch(engine: Engine, rows: Sequence[dict[str, Any]], session_key: str, last_seq: int,
                garbled: int = 0) -> None:
    """Store `rows` (flows.fixdrop.parse.report_row) once each, apply their busts/corrections, record the
    session's last committed sequence number."""
    fe = FixExecution.__table__  # type: Any
    with session_scope(engine) as s:
        conn = s.connection()
        if rows:
            _insert_rows(conn, engine.dialect.name, rows)
        changes = [r for r in rows if r["exec_type"] != "F"]
        if changes:
            stmt = (
                update(fe)
                .where(and_(fe.c.exec_id == bindparam("ref"), fe.c.exec_type == "F",
                            or_(fe.c.applied_ns.is_(None), fe.c.applied_ns < bindparam("t"))))
                .values(state=bindparam("new_state"), eff_qty=bindparam("q"), eff_px=bindparam("px"),
                        eff_account=bindparam("acct"), eff_clearing_account=bindparam("ca"),
                        applied_ns=bindparam("t"))
            )
            conn.execute(stmt, [{"ref": r["ref_exec_id"], "t": r["transact_ns"],
                                 "new_state": "busted" if r["exec_type"] == "H" else "corrected",
                                 "q": 0 if r["exec_type"] == "H" else r["last_qty"], "px": r["last_px"],
                                 "acct": r["account"], "ca": r["clearing_account"]} for r in changes])
        fs = FixSession.__table__
        now = dt.datetime.now(dt.UTC)
        up = _insert(engine, fs).values(session_id=session_key, last_seq_in=last_seq,
                                        updated_ns=int(now.timestamp() * 1e9), garbled=garbled)
        conn.execute(up.on_conflict_do_update(index_elements=["session_id"],
                                              set_={"last_seq_in": up.excluded.last_seq_in,
                                                    "updated_ns": up.excluded.updated_ns,
                                                    "garbled": up.excluded.garbled}))


def session_state(engine: Engine, session_key: str) -> tuple[int, int]:
    """(last committed inbound MsgSeqNum, garbled count) for the session; (0, 0) when never seen."""
    with session_scope(engine, readonly=True) as s:
        row = s.execute(select(FixSession.last_seq_in, FixSession.garbled)
                        .where(FixSession.session_id == session_key)).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def dropcopy_frame(engine: Engine, trade_date: dt.date) -> pd.DataFrame:
    """The clearer's current booking of each trade of the day (DROPCOPY_COLUMNS), busts/corrections applied."""
    fe = FixExecution
    with session_scope(engine, readonly=True) as s:
        rows = s.execute(
            select(fe.exec_id, fe.order_id, fe.eff_account, fe.eff_clearing_account, fe.symbol, fe.side,
                   fe.eff_qty, fe.eff_px, fe.transact_ns, fe.state)
            .where(fe.trade_date == trade_date, fe.exec_type == "F")
        ).all()
    cols = list(DROPCOPY_COLUMNS)
    f = pd.DataFrame(rows, columns=cols)
    if len(f):
        f["side"] = np.fromiter((SIDE_SIGN.get(x, 0) for x in f["side"]), dtype=np.int8, count=len(f))
    return f.astype(DROPCOPY_COLUMNS)


def counts(engine: Engine, trade_date: dt.date) -> dict[str, int]:
    """Trades, busts, corrections and duplicate deliveries the store holds for the day."""
    fe = FixExecution
    with session_scope(engine, readonly=True) as s:
        by_type: dict[str, int] = {str(t): int(n) for t, n in s.execute(
            select(fe.exec_type, func.count()).where(fe.trade_date == trade_date).group_by(fe.exec_type)).all()}
    return {"trades": int(by_type.get("F", 0)), "busts": int(by_type.get("H", 0)),
            "corrections": int(by_type.get("G", 0))}


def lag(engine: Engine, trade_date: dt.date) -> tuple[int, float]:
    """(journal fills without a drop copy yet, seconds the drop copy's last fill trails the journal's last)."""
    fe = FixExecution
    with session_scope(engine, readonly=True) as s:
        core_n, core_last = s.execute(select(func.count(), func.max(Execution.ts_ns))
                                      .where(Execution.trade_date == trade_date)).one()
        dc_n, dc_last = s.execute(select(func.count(), func.max(fe.transact_ns))
                                  .where(fe.trade_date == trade_date, fe.exec_type == "F")).one()
    behind = max(0, int(core_n or 0) - int(dc_n or 0))
    secs = max(0.0, ((core_last or 0) - (dc_last or core_last or 0)) / 1e9)
    return behind, secs


def open_breaks_by_type(engine: Engine, trade_date: dt.date) -> dict[str, int]:
    ib = IntradayBreak
    with session_scope(engine, readonly=True) as s:
        return {str(t): int(n) for t, n in s.execute(
            select(ib.btype, func.count()).where(ib.trade_date == trade_date, ib.status == "open")
            .group_by(ib.btype)).all()}
