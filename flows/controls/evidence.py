"""The sources of the 15c3-5 evidence: the journal's records of a business date and the control audit log's
records of a window, each with the sha256 the reports print.

Why hashes of the selection rather than of the files: the journal and the audit log keep growing after the
day, so a whole-file digest would change on every re-run; the digest of the day's records does not, and
anyone holding the files can recompute it (`corectl journal` / `corectl audit` give the same records).
The journal hash is over the bytes (EVENT_DTYPE, journal order) of the records the report reads; the audit
hash over each selected control record (CONTROL_COMMANDS) as canonical JSON (sorted keys), one line each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from core_bridge.audit import read_audit
from core_bridge.errors import JournalCorruptError
from core_bridge.journal.reader import iter_records
from flows.dates import NY
from flows.errors import ComplianceError


@dataclass(frozen=True)
class Source:
    name: str
    path: str  # as shown in the report (relative to the data home where it is under it)
    sha256: str
    records: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "sha256": self.sha256, "records": self.records}


def day_window_ns(day: dt.date) -> tuple[int, int]:
    """[00:00, next 00:00) of `day` in New York, as UTC ns."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=NY)
    end = start + dt.timedelta(days=1)
    return int(start.timestamp()) * 1_000_000_000, int(end.timestamp()) * 1_000_000_000


def shown(path: Path, home: Path | None) -> str:
    """A source's path as the report names it: relative to the data home, else to the project (the approved
    limits file), so the report's bytes do not depend on where either lives."""
    from core_bridge.settings import project_root

    for base in (home, project_root()):
        if base is not None:
            try:
                return path.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                pass
    return str(path)


def journal_records(journal_dir: Path, start_ns: int, end_ns: int) -> np.ndarray:
    """Every journal record stamped in [start_ns, end_ns), in journal order. A damaged journal is an error
    naming the file and record: evidence is never computed from part of it silently."""
    from core_bridge.protocol import EVENT_DTYPE

    parts: list[np.ndarray] = []
    try:
        for batch in iter_records(journal_dir):
            sel = batch[(batch["ts_ns"] >= start_ns) & (batch["ts_ns"] < end_ns)]
            if len(sel):
                parts.append(sel)
    except JournalCorruptError as exc:
        raise ComplianceError(f"journal unreadable: {exc}") from exc
    return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)


def journal_source(journal_dir: Path, recs: np.ndarray, home: Path | None) -> Source:
    return Source("journal", shown(journal_dir, home), hashlib.sha256(np.ascontiguousarray(recs).tobytes()).hexdigest(),
                  len(recs))


# The commands that change the 15c3-5 controls (and the approvals of raises): what the report reads. Order
# traffic, HA commands and the push of risk inputs are audited too but are not control changes.
CONTROL_COMMANDS = frozenset({"set_limits", "set_kill", "cancel_all", "approve_limits"})


def audit_records(audit_path: Path, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
    """The audit log's control attempts (CONTROL_COMMANDS) sent in [start_ns, end_ns), oldest first."""
    got = read_audit(audit_path)
    return [r for r in got.records
            if start_ns <= int(r.get("ts_ns") or 0) < end_ns and r.get("command") in CONTROL_COMMANDS]


def audit_source(audit_path: Path, recs: list[dict[str, Any]], home: Path | None) -> Source:
    h = hashlib.sha256()
    for r in recs:
        h.update(orjson.dumps(r, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE))
    return Source("control audit log", shown(audit_path, home), h.hexdigest(), len(recs))


def file_source(name: str, path: Path, home: Path | None) -> Source:
    if not path.is_file():
        return Source(name, shown(path, home), "absent", 0)
    return Source(name, shown(path, home), hashlib.sha256(path.read_bytes()).hexdigest(), 1)
