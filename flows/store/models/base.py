"""The declarative base, deterministic constraint names and the allowed values of every status column."""

from __future__ import annotations

import enum

from sqlalchemy import (
    CheckConstraint,
    MetaData,
)
from sqlalchemy.orm import DeclarativeBase

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
