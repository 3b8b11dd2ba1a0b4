"""The clearing firm's FIX drop copy as stored, its session's committed sequence, and intraday recon breaks.

`fix_executions` holds every ExecutionReport once, by its ExecID (a unique constraint: a resend or a restart
cannot book it twice). A bust (150=H) or correction (150=G) is its own row and is also applied to the trade
row it references by ExecRefID (`state`, `eff_*`), so readers see the clearer's current booking in one row.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flows.store.models.base import Base, _one_of


class FixExecState(enum.StrEnum):
    NEW = "new"  # as booked (also the state of bust/correction rows themselves)
    BUSTED = "busted"
    CORRECTED = "corrected"


class IntradayBreakStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # closed by itself: close_reason says why (flows.recon.intraday.CloseReason)
    SIGNED_OFF = "signed_off"


class FixExecution(Base):
    """One ExecutionReport (35=8) from the clearer, field for field; prices in PRICE_SCALE fixed point."""

    __tablename__ = "fix_executions"
    __table_args__ = (
        UniqueConstraint("exec_id"),
        Index("ix_fix_executions_trade_date_ref_exec_id", "trade_date", "ref_exec_id"),
        _one_of("state", FixExecState),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exec_id: Mapped[str] = mapped_column(String(40))  # ExecID(17)
    ref_exec_id: Mapped[str] = mapped_column(String(40))  # ExecRefID(19) of a bust/correction; own id otherwise
    exec_type: Mapped[str] = mapped_column(String(1))  # ExecType(150): F trade, H bust, G correction
    ord_status: Mapped[str] = mapped_column(String(1))  # OrdStatus(39)
    order_id: Mapped[str] = mapped_column(String(40))  # OrderID(37)
    clordid: Mapped[str] = mapped_column(String(40))  # ClOrdID(11)
    account: Mapped[str] = mapped_column(String(16))  # Account(1)
    exec_broker: Mapped[str] = mapped_column(String(8))  # ExecBroker(76)
    clearing_firm: Mapped[str] = mapped_column(String(8))  # ClearingFirm(439)
    clearing_account: Mapped[str] = mapped_column(String(16))  # ClearingAccount(440)
    symbol: Mapped[str] = mapped_column(String(8))  # Symbol(55)
    side: Mapped[str] = mapped_column(String(1))  # Side(54): 1 buy, 2 sell, 5 sell short, 6 short exempt
    last_qty: Mapped[int] = mapped_column(BigInteger)  # LastQty(32)
    last_px: Mapped[int] = mapped_column(BigInteger)  # LastPx(31)
    transact_ns: Mapped[int] = mapped_column(BigInteger)  # TransactTime(60), UTC ns
    trade_date: Mapped[dt.date] = mapped_column(Date)  # TradeDate(75)
    last_mkt: Mapped[str] = mapped_column(String(4))  # LastMkt(30)
    msg_seq: Mapped[int] = mapped_column(BigInteger)  # MsgSeqNum(34) it arrived under
    poss_dup: Mapped[bool] = mapped_column(Boolean)  # PossDupFlag(43) or PossResend(97) was set
    received_ns: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    eff_qty: Mapped[int] = mapped_column(BigInteger)  # the clearer's current booking, after busts/corrections
    eff_px: Mapped[int] = mapped_column(BigInteger)
    eff_account: Mapped[str] = mapped_column(String(16))
    eff_clearing_account: Mapped[str] = mapped_column(String(16))
    applied_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # transact time of the last
    # bust/correction applied: a replayed older one never overwrites a newer one


class FixSession(Base):
    """The last inbound sequence number whose message is committed: the initiator restarts from here."""

    __tablename__ = "fix_sessions"

    session_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    last_seq_in: Mapped[int] = mapped_column(BigInteger)
    updated_ns: Mapped[int] = mapped_column(BigInteger)
    garbled: Mapped[int] = mapped_column(BigInteger)  # messages dropped for a bad checksum or BodyLength


class IntradayBreak(Base):
    """An intraday recon break (flows.recon.intraday), upserted by id on every run of the day."""

    __tablename__ = "intraday_breaks"
    __table_args__ = (
        Index("ix_intraday_breaks_trade_date_status", "trade_date", "status"),
        _one_of("status", IntradayBreakStatus),
    )

    break_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    trade_date: Mapped[dt.date] = mapped_column(Date)
    btype: Mapped[str] = mapped_column(String(32))
    exec_id: Mapped[str] = mapped_column(String(40))
    account: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(8))
    internal_qty: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clearing_qty: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    internal_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clearing_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    detail: Mapped[str] = mapped_column(String(200))
    event_ns: Mapped[int] = mapped_column(BigInteger)
    first_seen_ns: Mapped[int] = mapped_column(BigInteger)
    last_seen_ns: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    closed_ns: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    close_reason: Mapped[str] = mapped_column(String(32))
