"""Every error the reports package raises.

    ReportError
    ├── CatValidationError   one or more CAT records broke a schema or cross-record rule (carries the findings)
    ├── CatBuildError        a drop-copy event cannot become CAT records (names the event)
    └── CatSealError         sealing would overwrite or contradict sealed CAT files
"""

from __future__ import annotations

from typing import Any


class ReportError(Exception):
    """Base of every reports error."""


class CatValidationError(ReportError):
    def __init__(self, findings: list[Any]) -> None:
        head = "; ".join(str(f) for f in findings[:5])
        super().__init__(f"{len(findings)} CAT validation finding(s): {head}")
        self.findings = findings


class CatBuildError(ReportError):
    """A drop-copy event cannot be turned into CAT records (unknown account/order/venue); names the event."""

    def __init__(self, message: str, seq: int | None = None, epoch: int | None = None) -> None:
        where = f"event epoch {epoch} seq {seq}: " if seq is not None else ""
        super().__init__(where + message)
        self.seq = seq
        self.epoch = epoch


class CatSealError(ReportError):
    """Sealing would overwrite or contradict files already sealed for the date (they are immutable)."""
