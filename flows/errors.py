"""Every error the flows package raises, in one place.

    OpsError
    ├── NotASessionError        the date is not an NYSE session (flows end cleanly as "not a session")
    ├── SourceError             fetching an external file failed (transport; retryable)
    │   ├── HostKeyError        the server's host key is unknown or changed (never retried)
    │   └── SourceAuthError     the server refused our key (never retried)
    ├── FileRejectedError       a file failed structural or content validation; carries file, line, field
    ├── StaleInputError         a risk input is missing or too old (fail closed)
    ├── CoreNotAckedError       the core did not acknowledge a push
    ├── ReconError              a reconciliation source is missing or unreadable (never "flat")
    ├── CatError                CAT build/validate/submit problems (see reports.errors for validation)
    ├── ArchiveError            archive write refused or verification failed
    │   └── ArchiveTamperError  an object, manifest entry or duplicate copy does not verify (names it)
    ├── StoreError              the ops store refused data
    │   └── EventLoadError      drop-copy records that cannot be stored as they are; carries epoch, seq, field
    ├── FixReportError          a clearer's FIX ExecutionReport refused whole; carries MsgSeqNum and tag
    ├── DrillFailedError        an HA drill failed a check (the report and the stored rows name which)
    └── ComplianceError         a 15c3-5 evidence source is unreadable or a review period is invalid
        └── ControlVerificationFailedError  a control missed its boundary (the evidence names which)
"""

from __future__ import annotations

from pathlib import Path


class OpsError(Exception):
    """Base of every flows error."""


class NotASessionError(OpsError):
    pass


class DemoHomeError(OpsError):
    """The data home holds data the demo did not write: it will not move or mix with it."""


class SourceError(OpsError):
    """Transport-level failure fetching a source; the only kind flows retry."""


class HostKeyError(SourceError):
    pass


class SourceAuthError(SourceError):
    pass


class FileRejectedError(OpsError):
    """A file rejected whole. `line` is 1-based; `field` names the column/field at fault."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, field: str | None = None) -> None:
        where = f"{Path(path).name}"
        if line is not None:
            where += f" line {line}"
        if field:
            where += f" field {field}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line
        self.field = field
        self.reason = message


class StaleInputError(OpsError):
    pass


class CoreNotAckedError(OpsError):
    pass


class ReconError(OpsError):
    pass


class CatError(OpsError):
    pass


class ArchiveError(OpsError):
    pass


class ArchiveTamperError(ArchiveError):
    def __init__(self, message: str, object_id: str | None = None, where: str | None = None) -> None:
        super().__init__(message + (f" [{object_id}]" if object_id else "") + (f" at {where}" if where else ""))
        self.object_id = object_id
        self.where = where


class StoreError(OpsError):
    pass


class EventLoadError(StoreError):
    """A batch of drop-copy records refused whole (nothing of it is stored); names the first record at fault."""

    def __init__(
        self, message: str, epoch: int | None = None, seq: int | None = None, field: str | None = None
    ) -> None:
        where = ""
        if epoch is not None and seq is not None:
            where = f"record epoch {epoch} seq {seq}"
        if field:
            where += (" " if where else "") + f"field {field}"
        super().__init__(f"{where}: {message}" if where else message)
        self.epoch = epoch
        self.seq = seq
        self.field = field
        self.reason = message


class FixReportError(OpsError):
    """An ExecutionReport from the clearer that cannot be booked as it is (the session rejects it, 35=3)."""

    def __init__(self, message: str, seq: int | None = None, tag: int | None = None) -> None:
        where = " ".join(p for p in (f"MsgSeqNum {seq}" if seq is not None else "",
                                     f"tag {tag}" if tag is not None else "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.seq = seq
        self.tag = tag
        self.reason = message


class DrillFailedError(OpsError):
    """An HA drill failed; raised after its report and rows are written."""


class ComplianceError(OpsError):
    """A controls-evidence source cannot be read, or a review period is invalid; names the source or field."""


class ControlVerificationFailedError(ComplianceError):
    """A control-verification case did not behave at its boundary; raised after the evidence is written."""
