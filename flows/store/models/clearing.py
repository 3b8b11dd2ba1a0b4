"""Reference data, clearing inputs (files, SOD positions and balances, BP snapshots) and Reg SHO tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from flows.store.models.base import (
    Base,
    BpStatus,
    FileStatus,
    LocateMethod,
    ShoListType,
    _one_of,
)
from flows.store.types import Money, UTCDateTime

# --- reference data ------------------------------------------------------------------------------------


class Account(Base):
    """The firm's prop accounts; `fdid` is the CAT firmDesignatedID (null while pending)."""

    __tablename__ = "accounts"

    account: Mapped[str] = mapped_column(String(8), primary_key=True)
    clearing_account: Mapped[str] = mapped_column(String(16), unique=True)
    fdid: Mapped[str | None] = mapped_column(String(40), unique=True)
    fdid_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(200), default="")


class Security(Base):
    """Security master. `listing` is the primary listing market code (Q Nasdaq, N NYSE, P NYSE Arca)."""

    __tablename__ = "securities"

    symbol: Mapped[str] = mapped_column(String(8), primary_key=True)
    cusip: Mapped[str] = mapped_column(String(9), unique=True)
    isin: Mapped[str] = mapped_column(String(12), unique=True)
    listing: Mapped[str] = mapped_column(String(1))
    luld_tier: Mapped[int] = mapped_column(SmallInteger)


# --- clearing inputs -----------------------------------------------------------------------------------


class IngestedFile(Base):
    """Every external file seen, loaded or not. The same content for the same date is ingested once."""

    __tablename__ = "ingested_files"
    __table_args__ = (
        UniqueConstraint("sha256", "business_date"),
        _one_of("status", FileStatus),
        Index("ix_ingested_files_date_source", "business_date", "source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))  # e.g. clearing.positions, clearing.balances, nasdaq.threshold
    name: Mapped[str] = mapped_column(String(255))
    business_date: Mapped[dt.date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    records: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)  # 1-based line of the first fault
    field: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SodPosition(Base):
    """Start-of-day positions from the clearing firm (trade-date and settle-date quantities).

    On PostgreSQL the table is LIST-partitioned by business_date, one partition per loaded day plus a DEFAULT
    one (migration 0002, `flows.store.partitions`), and its primary key is (id, business_date): a partitioned
    table's key must contain the partition key. The model keeps `id` alone as the key (SQLite's schema, the
    ORM identity); ids come from one sequence on both back ends.
    """

    __tablename__ = "sod_positions"
    __table_args__ = (UniqueConstraint("business_date", "account", "cusip"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(8))
    cusip: Mapped[str] = mapped_column(String(9))
    symbol: Mapped[str] = mapped_column(String(8))
    td_qty: Mapped[int] = mapped_column(BigInteger)
    sd_qty: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)  # PRICE_SCALE fixed point (clearing close/mark)
    file_id: Mapped[int] = mapped_column(ForeignKey("ingested_files.id"), index=True)


class SodBalance(Base):
    """Start-of-day account balances from the clearing firm (inputs of the buying-power computation)."""

    __tablename__ = "sod_balances"
    __table_args__ = (UniqueConstraint("business_date", "account"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(8))
    cash: Mapped[Decimal] = mapped_column(Money)
    long_market_value: Mapped[Decimal] = mapped_column(Money)
    short_market_value: Mapped[Decimal] = mapped_column(Money)
    equity: Mapped[Decimal] = mapped_column(Money)
    buying_power: Mapped[Decimal] = mapped_column(Money)  # what the clearing firm grants
    file_id: Mapped[int] = mapped_column(ForeignKey("ingested_files.id"), index=True)


class BpSnapshot(Base):
    """One buying-power computation per account and refresh, and what the core acknowledged."""

    __tablename__ = "bp_snapshots"
    __table_args__ = (
        UniqueConstraint("business_date", "account", "as_of"),
        _one_of("status", BpStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    as_of: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    account: Mapped[str] = mapped_column(String(8))
    clearing_bp: Mapped[Decimal] = mapped_column(Money)
    house_bp: Mapped[Decimal] = mapped_column(Money)  # 15c3-1 haircut capacity left for this account
    haircut_used: Mapped[Decimal] = mapped_column(Money)
    reserve: Mapped[Decimal] = mapped_column(Money)
    available: Mapped[Decimal] = mapped_column(Money)  # min(clearing, house) - reserve, floored at 0
    status: Mapped[str] = mapped_column(String(16))
    pushed_state_version: Mapped[int | None] = mapped_column(BigInteger)  # ack of set_bp; null = not acked
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# --- Reg SHO -------------------------------------------------------------------------------------------


class Locate(Base):
    """Per-symbol shares available to borrow for the day, by source."""

    __tablename__ = "locates"
    __table_args__ = (UniqueConstraint("business_date", "symbol", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    symbol: Mapped[str] = mapped_column(String(8))
    cusip: Mapped[str] = mapped_column(String(9))
    available: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))


class LocateLog(Base):
    """The Reg SHO 203(b) locate record: who asked, what was granted, from where, and its running usage."""

    __tablename__ = "locate_log"
    __table_args__ = (
        _one_of("method", LocateMethod),
        Index("ix_locate_log_date_symbol", "business_date", "symbol"),
    )

    locate_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # derived, deterministic
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    business_date: Mapped[dt.date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(8))
    cusip: Mapped[str] = mapped_column(String(9))
    requested: Mapped[int] = mapped_column(BigInteger)
    granted: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    expiry: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used: Mapped[int] = mapped_column(BigInteger, default=0)  # running usage against `granted`
    order_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # firm order ids that used it


class ShoListEntry(Base):
    """One symbol on a threshold, easy-to-borrow or pre-borrow list for a date and market."""

    __tablename__ = "sho_list_entries"
    __table_args__ = (
        UniqueConstraint("business_date", "list_type", "market", "symbol"),
        _one_of("list_type", ShoListType),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    list_type: Mapped[str] = mapped_column(String(16))
    market: Mapped[str] = mapped_column(String(16))  # e.g. NASDAQ, NYSE, NYSE Arca, CLEARING
    symbol: Mapped[str] = mapped_column(String(16))
