"""Records of regulatory value: recon runs and breaks, CAT submissions and feedback, control audit, HA
drills, retention items."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from flows.store.models.base import (
    Base,
    BreakStatus,
    CatFeedbackStatus,
    CatStatus,
    DrillResult,
    ReconRunStatus,
    _one_of,
)
from flows.store.types import UTCDateTime

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
