"""The ops store schema: one typed SQLAlchemy model per table.

Conventions (so every flow reads the store the same way):
- Prices are integers in `protocol.PRICE_SCALE` fixed point (BigInteger), exactly as on the wire.
- Money (buying power, reserves) is `Money`: exact Decimal, stored as a scaled integer.
- Timestamps are aware UTC (`UTCDateTime`); drop-copy times stay as UTC nanoseconds (`ts_ns`).
  `business_date` / `trade_date` is the America/New_York session date.
- Status columns are short strings limited by a named CHECK constraint; the allowed values are the
  StrEnums below.
- There are no foreign keys to `accounts`/`securities`: the drop copy and clearing files are evidence and
  are stored as received; flows validate against reference data and report the line and field at fault.

Invariants: `order_events` is append-only and unique by (epoch, seq); `executions` are derived from
ORDER_FILLED events in the same transaction that stores them (see loader.py).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flows.store.types import Money, UTCDateTime

# Deterministic constraint names: the same migration names them identically on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _one_of(column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_allowed")


# --- allowed values ------------------------------------------------------------------------------------


class FileStatus(enum.StrEnum):
    LOADED = "loaded"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"


class BpStatus(enum.StrEnum):
    OK = "ok"
    STALE = "stale"
    RESTRICTIVE = "restrictive"  # fail closed: input missing or unacknowledged, BP pushed as zero/limited


class LocateMethod(enum.StrEnum):
    ETB = "etb"
    PREBORROW = "preborrow"
    SPECIFIC = "specific"


class ShoListType(enum.StrEnum):
    THRESHOLD = "threshold"
    ETB = "etb"
    PREBORROW = "preborrow"


class PositionSource(enum.StrEnum):
    CORE = "core"
    JOURNAL = "journal"
    CLEARING = "clearing"


class ReconRunStatus(enum.StrEnum):
    RUNNING = "running"
    CLEAN = "clean"
    BREAKS = "breaks"
    FAILED = "failed"


class BreakStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    SIGNED_OFF = "signed_off"


class CatStatus(enum.StrEnum):
    BUILT = "built"
    SEALED = "sealed"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class CatFeedbackStatus(enum.StrEnum):
    OPEN = "open"
    REPAIRED = "repaired"
    CLOSED = "closed"


class DrillResult(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (a drill outcome, not a password)
    FAIL = "fail"
    ABORTED = "aborted"


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


# --- reconciliation ------------------------------------------------------------------------------------


class ReconRun(Base):
    __tablename__ = "recon_runs"
    __table_args__ = (
        _one_of("status", ReconRunStatus),
        Index("ix_recon_runs_business_date", "business_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReconBreak(Base):
    """A break, keyed by a deterministic id (type + date + account + symbol ...) so re-runs update it."""

    __tablename__ = "recon_breaks"
    __table_args__ = (
        _one_of("status", BreakStatus),
        Index("ix_recon_breaks_status_business_date", "status", "business_date"),
    )

    break_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_runs.id"), index=True)  # last run that saw it
    business_date: Mapped[dt.date] = mapped_column(Date)
    break_type: Mapped[str] = mapped_column(String(48))  # a ReasonCode-style name, e.g. RECON_QTY_MISMATCH
    account: Mapped[str | None] = mapped_column(String(8))
    symbol: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[dt.date] = mapped_column(Date)
    last_seen: Mapped[dt.date] = mapped_column(Date)
    age_days: Mapped[int] = mapped_column(Integer, default=0)  # business days since first_seen
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    signoff_by: Mapped[str | None] = mapped_column(String(64))
    signoff_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    signoff_note: Mapped[str | None] = mapped_column(Text)


# --- CAT -----------------------------------------------------------------------------------------------


class CatSubmission(Base):
    """One CAT data file: once sealed its bytes never change (sha256); late = submitted after deadline."""

    __tablename__ = "cat_submissions"
    __table_args__ = (
        UniqueConstraint("file_name"),
        UniqueConstraint("business_date", "file_number"),
        _one_of("status", CatStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    file_name: Mapped[str] = mapped_column(String(255))
    file_number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    records: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    sealed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # 08:00 ET on T+1
    late: Mapped[bool] = mapped_column(Boolean, default=False)


class CatFeedback(Base):
    """One CAT feedback error for a record, and the repair that answered it."""

    __tablename__ = "cat_feedback"
    __table_args__ = (
        UniqueConstraint("business_date", "error_roe_id", "error_code"),
        _one_of("status", CatFeedbackStatus),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("cat_submissions.id"), index=True)
    business_date: Mapped[dt.date] = mapped_column(Date)
    error_roe_id: Mapped[str] = mapped_column(String(64))  # CAT's errorROEID
    error_code: Mapped[str] = mapped_column(String(16))
    firm_roe_id: Mapped[str | None] = mapped_column(String(64))  # firmROEID of the record at fault
    status: Mapped[str] = mapped_column(String(16))
    repair_file: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


# --- controls, HA, retention ---------------------------------------------------------------------------


class ControlAudit(Base):
    """Mirror of the control audit log (who did what, why, result). `entry_id` makes mirroring idempotent."""

    __tablename__ = "control_audit"
    __table_args__ = (Index("ix_control_audit_ts_ns", "ts_ns"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)  # the log's own id (sequence or sha256)
    ts_ns: Mapped[int] = mapped_column(BigInteger)  # UTC ns
    operator: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    cmd: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(128))  # idempotency key
    reason: Mapped[str] = mapped_column(Text)
    approver: Mapped[str | None] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ok: Mapped[bool] = mapped_column(Boolean)
    code: Mapped[str] = mapped_column(String(64))
    state_version: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    endpoint: Mapped[str | None] = mapped_column(String(255))


class HaDrill(Base):
    __tablename__ = "ha_drills"
    __table_args__ = (_one_of("result", DrillResult),)

    drill_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, index=True)
    scenario: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[str] = mapped_column(String(16))


class RetentionItem(Base):
    """One archived object under 17a-4: purge only after `retain_until` and never while on hold."""

    __tablename__ = "retention_items"

    object_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the content
    record_class: Mapped[str] = mapped_column(String(32))  # e.g. order_events, cat_file, control_audit
    source: Mapped[str] = mapped_column(String(255))  # where it came from (path or table/date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retain_until: Mapped[dt.date] = mapped_column(Date, index=True)
    hold: Mapped[bool] = mapped_column(Boolean, default=False)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    archive_path: Mapped[str | None] = mapped_column(String(512))
