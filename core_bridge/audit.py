"""The control audit log: who sent what to the core, why, and what came back.

Records are evidence (17a-4), so the log is append-only JSON lines, one line per command attempt, each
line written with a single O_APPEND write and made durable (fdatasync) before the caller sees the outcome.
Several processes (corectl, flows) may append at once: one `write` of one line per record keeps lines
whole. The client (`core_bridge.client`) writes it, so every caller is audited the same way.

Cost on the command path: the file descriptor stays open for the writer's life (no open per record) and
each record is one `os.write` + one `os.fdatasync`. fdatasync, not fsync: it still flushes the data and the
file size (what a reader needs to find the line), skipping only timestamps. One line per attempt, written
once the outcome is known (not an "attempt" line before sending and a "result" line after): a second line
would either need its own flush on the command path or would add nothing a crash could not lose, and one
record per attempt is what `corectl audit` and its readers expect. The core keeps its own durable record of
every applied command (its state log and event journal), which covers the window between send and audit.

Location: `COLO_OPS_HOME/audit/control.jsonl` (`default_path()`).

A reader that finds a torn last line (a crash mid-write) skips it and says how many lines it skipped,
rather than refusing to show the rest.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

AUDIT_FILE = Path("audit") / "control.jsonl"


def default_path(home: Path | None = None) -> Path:
    if home is None:
        from core_bridge.settings import load_settings

        home = load_settings().home
    return home / AUDIT_FILE


def utc_text(ts_ns: int) -> str:
    """ISO-8601 UTC with microseconds and a Z, e.g. 2026-11-20T14:31:07.123456Z."""
    secs, rem = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem // 1000:06d}Z"


@dataclass(slots=True)
class AuditRecord:
    operator: str
    identity: str  # the CURVE key name the command went out with
    role: str | None  # that key's role per roles.json, when known on this host
    command: str
    scope: str | None
    key: str | None
    reason: str
    args: dict[str, Any]
    result: str  # ok | refused | no_ack | bad_reply
    code: str | None  # the core's ReasonCode name, when it replied
    state_version: int | None  # the acked state version
    id: str  # idempotency id on the wire
    endpoint: str
    attempts: int | None = None
    elapsed_ms: float | None = None
    message: str = ""
    ts_ns: int = field(default_factory=time.time_ns)

    def to_json(self) -> bytes:
        # Shallow field read (asdict would deep-copy `args`); orjson serialises the values as they are.
        doc = {"utc": utc_text(self.ts_ns)} | {name: getattr(self, name) for name in _RECORD_FIELDS}
        return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


_RECORD_FIELDS = tuple(f.name for f in fields(AuditRecord))


class AuditLog:
    """Append-only writer; keeps the file open (O_APPEND) so each record costs one write + one fdatasync."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._fd

    def append(self, record: AuditRecord) -> None:
        line = record.to_json()
        fd = self._open()
        written = os.write(fd, line)
        if written != len(line):  # a short write on a full disk: say so, never leave it silent
            raise OSError(f"audit log short write ({written} of {len(line)} bytes) to {self.path}")
        os.fdatasync(fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class AuditQuery:
    since_ns: int | None = None
    command: str | None = None
    operator: str | None = None
    limit: int | None = None  # the last N matching records


@dataclass
class AuditRead:
    records: list[dict[str, Any]]
    skipped_lines: list[int]  # 1-based line numbers that were not valid JSON objects


def iter_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    with fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield n, None
                continue
            yield n, obj if isinstance(obj, dict) else None


def read_audit(path: Path, query: AuditQuery | None = None) -> AuditRead:
    """Records matching the query, oldest first."""
    q = query or AuditQuery()
    records: list[dict[str, Any]] = []
    skipped: list[int] = []
    for n, obj in iter_lines(path):
        if obj is None:
            skipped.append(n)
            continue
        if q.since_ns is not None and int(obj.get("ts_ns") or 0) < q.since_ns:
            continue
        if q.command is not None and obj.get("command") != q.command.replace("-", "_"):
            continue
        if q.operator is not None and obj.get("operator") != q.operator:
            continue
        records.append(obj)
    if q.limit is not None:
        records = records[-q.limit :] if q.limit > 0 else []
    return AuditRead(records, skipped)
