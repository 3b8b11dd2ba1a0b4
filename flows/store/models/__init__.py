"""The ops store schema: one typed SQLAlchemy model per table, by area (`base`: Base and status values;
`clearing`, `trading`, `records`). Importing this package registers every table on `Base.metadata`.

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

from flows.store.models.base import (
    NAMING_CONVENTION,
    Base,
    BpStatus,
    BreakStatus,
    CatFeedbackStatus,
    CatStatus,
    DrillResult,
    FileStatus,
    LocateMethod,
    PositionSource,
    ReconRunStatus,
    ShoListType,
)
from flows.store.models.clearing import (
    Account,
    BpSnapshot,
    IngestedFile,
    Locate,
    LocateLog,
    Security,
    ShoListEntry,
    SodBalance,
    SodPosition,
)
from flows.store.models.dropcopy import (
    FixExecState,
    FixExecution,
    FixSession,
    IntradayBreak,
    IntradayBreakStatus,
)
from flows.store.models.records import (
    CatFeedback,
    CatSubmission,
    ControlAudit,
    HaDrill,
    ReconBreak,
    ReconRun,
    RetentionItem,
)
from flows.store.models.trading import (
    Execution,
    OrderEvent,
    Position,
)

__all__ = [
    "Account",
    "Base",
    "BpSnapshot",
    "BpStatus",
    "BreakStatus",
    "CatFeedback",
    "CatFeedbackStatus",
    "CatStatus",
    "CatSubmission",
    "ControlAudit",
    "DrillResult",
    "Execution",
    "FileStatus",
    "FixExecState",
    "FixExecution",
    "FixSession",
    "HaDrill",
    "IngestedFile",
    "IntradayBreak",
    "IntradayBreakStatus",
    "Locate",
    "LocateLog",
    "LocateMethod",
    "NAMING_CONVENTION",
    "OrderEvent",
    "Position",
    "PositionSource",
    "ReconBreak",
    "ReconRun",
    "ReconRunStatus",
    "RetentionItem",
    "Security",
    "ShoListEntry",
    "ShoListType",
    "SodBalance",
    "SodPosition",
]
