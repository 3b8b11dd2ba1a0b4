"""End-of-day sealing from any process: directly when no writer holds the journal, else by request.

Why a request file: the running capture holds the journal's flock, so another process cannot seal; it
leaves `seal.request`, which the capture honours within a second (core_bridge.dropcopy), and waits for the
new sealed segment to appear.
"""

from __future__ import annotations

import time
from pathlib import Path

from core_bridge.errors import JournalError
from core_bridge.journal.reader import iter_sealed_segments
from core_bridge.journal.segment import SEAL_REQUEST_FILE, SegmentInfo
from core_bridge.journal.writer import Journal


def seal_journal(journal_dir: str | Path, *, timeout_s: float = 10.0) -> SegmentInfo | None:
    """Seal the active segment (end of day). If a capture holds the journal, ask it through a seal.request
    file and wait until it has sealed; raises JournalError if it did not within timeout_s. Returns the
    sealed segment (None when there was nothing to seal)."""
    jdir = Path(journal_dir)
    try:
        with Journal.open(jdir) as j:
            return j.seal()
    except JournalError as exc:
        if "another process" not in str(exc):
            raise
    before = {s.path.name for s in iter_sealed_segments(jdir)}
    request = jdir / SEAL_REQUEST_FILE
    request.write_text(str(time.time_ns()))
    deadline = time.monotonic() + timeout_s
    while request.exists():
        if time.monotonic() > deadline:
            request.unlink(missing_ok=True)
            raise JournalError(f"the capture holding {jdir} did not seal within {timeout_s} s")
        time.sleep(0.02)
    new = [s for s in iter_sealed_segments(jdir) if s.path.name not in before]
    return new[-1] if new else None
