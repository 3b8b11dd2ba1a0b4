"""The drop copy as stored: order events (append-only, unique by epoch and seq), executions, positions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from flows.store.models.base import (
    Base,
    PositionSource,
    _one_of,
)

# --- drop copy -----------------------------------------------------------------------------------------


class OrderEvent(Base):
    """One drop-copy record (protocol.EVENT_DTYPE), field for field; text fields with NUL padding removed.

    Unsigned wire fields are stored in signed columns wide enough for them (u1 -> SmallInteger,
    u2 -> Integer, u4/u8 -> BigInteger); u8 ids above 2**63-1 are refused by the loader.
    """

    __tablename__ = "order_events"
    __table_args__ = (
        Index("ix_order_events_trade_date", "trade_date"),
        Index("ix_order_events_order_id", "order_id"),
    )

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    trade_date: Mapped[dt.date] = mapped_column(Date)  # New York date of ts_ns
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    etype: Mapped[int] = mapped_column(SmallInteger)
    side: Mapped[int] = mapped_column(SmallInteger)
    venue: Mapped[int] = mapped_column(SmallInteger)
    flags: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[int] = mapped_column(Integer)
    ord_type: Mapped[int] = mapped_column(SmallInteger)
    tif: Mapped[int] = mapped_column(SmallInteger)
    account: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(8))
    session: Mapped[str] = mapped_column(String(8))
    qty: Mapped[int] = mapped_column(BigInteger)
    leaves_qty: Mapped[int] = mapped_column(BigInteger)
    last_qty: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    last_px: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigInteger)
    orig_order_id: Mapped[int] = mapped_column(BigInteger)
    routed_id: Mapped[int] = mapped_column(BigInteger)
    venue_order_id: Mapped[int] = mapped_column(BigInteger)
    exec_id: Mapped[int] = mapped_column(BigInteger)
    clordid: Mapped[int] = mapped_column(BigInteger)


class Execution(Base):
    """A fill, derived from an ORDER_FILLED order event (same epoch and seq)."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_trade_date_account_symbol", "trade_date", "account", "symbol"),
        Index("ix_executions_order_id", "order_id"),
    )

    epoch: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    trade_date: Mapped[dt.date] = mapped_column(Date)
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    account: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(8))
    side: Mapped[int] = mapped_column(SmallInteger)
    venue: Mapped[int] = mapped_column(SmallInteger)
    qty: Mapped[int] = mapped_column(BigInteger)  # the event's last_qty
    price: Mapped[int] = mapped_column(BigInteger)  # the event's last_px, PRICE_SCALE fixed point
    leaves_qty: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigInteger)
    venue_order_id: Mapped[int] = mapped_column(BigInteger)
    exec_id: Mapped[int] = mapped_column(BigInteger)


class Position(Base):
    """End-of-day (or as-of) net position per account and symbol, as one source sees it (for recon)."""

    __tablename__ = "positions"
    __table_args__ = (
        UniqueConstraint("business_date", "account", "symbol", "source"),
        _one_of("source", PositionSource),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(8))
    qty: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
