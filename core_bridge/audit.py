"""The control audit log: who sent what to the core, why, and what came back.

Records are evidence (17a-4), so the log is append-only JSON lines, each line written with a single O_APPEND
write (several processes may append at once: one `write` of one line keeps lines whole).

A mutating command leaves two lines, joined by its idempotency id:
- a **sent** line (who, which key, what, why, the id) written before the command goes out and made durable
  (fdatasync) while the core works on it. For a loosening command (or any command of a v1 core) the caller
  sees the outcome only once that line is on disk. For a tightening control under protocol v2 the flush is a
  group commit on the flusher thread, started the moment the command leaves, and the caller is not held for
  it: the contract is the core's own (docs/protocol.md §3.8): a kill is acked when applied and made durable
  right after, and the core's durable state records the same id, operator and reason. `--wait-durable` waits
  for both;
- an **outcome** line (ok, refused, no_ack, bad_reply; the core's code and acked state version) written
  when the reply is in. It is flushed by the next command's sent line, by a background flush a few
  milliseconds later (`LAZY_SYNC_S`), or at close, whichever comes first: it is on disk within that window,
  not before the caller returns. A host crash inside the window leaves the sent line without its outcome;
  readers then show the attempt as `unrecorded`, and the core's own durable record of the id (its state
  log, and the replay of the original ack when the same id is sent again) says what it applied.
Reads that fail, and commands that never left (no socket), leave a single outcome line flushed before the
caller returns; successful reads are not audited.

Readers (`read_audit`, `corectl audit`) show one record per attempt: the outcome line merged over its sent
line, in the order the attempts were sent.

Cost on the command path: the file descriptor stays open for the writer's life (no open per record);
fdatasync, not fsync: it still flushes the data and the file size (what a reader needs to find the line),
skipping only timestamps.

Location: `COLO_OPS_HOME/audit/control.jsonl` (`default_path()`).

A reader that finds a torn last line (a crash mid-write) skips it and says how many lines it skipped,
rather than refusing to show the rest.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

AUDIT_FILE = Path("audit") / "control.jsonl"
LAZY_SYNC_S = 0.002  # how long an outcome line may wait for a flush that another write would make anyway
GROUP_COMMIT_S = 0.001  # the least time between two flusher-thread flushes of sent lines (a group commit)
SENT = "sent"  # the phase of a line written when the command went out; outcome lines carry "outcome"
UNRECORDED = "unrecorded"  # a sent line whose outcome line never reached the disk


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
    phase: str = "outcome"  # SENT for the line written as the command went out
    # Protocol v2: when the core's ack arrived (the change is applied) and when it was known durable on the
    # core (the ack itself for a durable ack, else its durable follow-up; None: not confirmed), UTC ns.
    applied_ns: int | None = None
    durable_ns: int | None = None
    durable_version: int | None = None  # the core's durable version in the ack (or its follow-up)
    ts_ns: int = field(default_factory=time.time_ns)

    def to_json(self) -> bytes:
        # Shallow field read (asdict would deep-copy `args`); orjson serialises the values as they are.
        doc = {"utc": utc_text(self.ts_ns)} | {name: getattr(self, name) for name in _RECORD_FIELDS}
        return orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE)


_RECORD_FIELDS = tuple(f.name for f in fields(AuditRecord))


class AuditLog:
    """Append-only writer; keeps the file open (O_APPEND) so each record costs one write (+ one fdatasync)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()  # guards the generation counters, not the (atomic) writes
        self._written = 0  # generation of the last line written
        self._synced = 0  # generation known to be on disk
        self._wake: threading.Event | None = None
        self._flusher: threading.Thread | None = None
        self._closing = False
        self._lazy_upto = 0  # generation of the last line left to the lazy flush
        self._urgent = False  # the flusher has a sent line to make durable now, not after LAZY_SYNC_S
        self._last_sync = 0.0  # monotonic time the flusher's last flush ended

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._fd

    def write(self, record: AuditRecord) -> int:
        """Write one line without waiting for the disk; `sync()` (or the lazy flush) makes it durable.
        Returns the line's generation (what `sync(upto=...)` takes)."""
        line = record.to_json()
        fd = self._open()
        written = os.write(fd, line)
        if written != len(line):  # a short write on a full disk: say so, never leave it silent
            raise OSError(f"audit log short write ({written} of {len(line)} bytes) to {self.path}")
        with self._lock:
            self._written += 1
            return self._written

    def sync(self, upto: int | None = None) -> None:
        """Make every line written so far (or up to generation `upto`) durable; no flush when already so."""
        with self._lock:
            upto = self._written if upto is None else upto
            if upto <= self._synced or self._fd is None:
                return
            upto = self._written  # one fdatasync covers everything written before it starts
            fd = self._fd
        os.fdatasync(fd)
        with self._lock:
            self._synced = max(self._synced, upto)

    def generations(self) -> tuple[int, int]:
        """(lines written, lines known durable) by this writer so far."""
        with self._lock:
            return self._written, self._synced

    def pending_lines(self) -> int:
        """Lines written but not yet known to be on disk."""
        with self._lock:
            return self._written - self._synced

    def append(self, record: AuditRecord) -> None:
        """Write one line and make it durable before returning."""
        self.write(record)
        self.sync()

    def append_lazy(self, record: AuditRecord) -> None:
        """Write one line; it becomes durable within LAZY_SYNC_S (or sooner, by the next sync)."""
        self._lazy_upto = max(self._lazy_upto, self.write(record))
        self._kick()

    def sync_soon(self, upto: int) -> None:
        """Start making lines up to generation `upto` durable now, on the flusher thread (group commit): the
        caller goes on at once; `sync(upto)` later waits for it (or does it) when it must."""
        self._urgent = True
        self._lazy_upto = max(self._lazy_upto, upto)
        self._kick()

    def _kick(self) -> None:
        if self._flusher is None:
            self._wake = threading.Event()
            self._flusher = threading.Thread(target=self._flush_loop, name="audit-flush", daemon=True)
            self._flusher.start()
        assert self._wake is not None
        self._wake.set()

    def _flush_loop(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            # A pause, not a poll: a command sent meanwhile flushes this line with its own sent line, and then
            # this flush has nothing left to do (it never flushes that command's line in its place). A sent line
            # given to sync_soon is flushed at once: it is the group commit of a command already on the wire.
            # Urgent flushes are still spaced GROUP_COMMIT_S apart: under a burst of commands one fdatasync
            # takes every line written meanwhile (each flush costs the host ~70 us of CPU on this disk).
            pause = LAZY_SYNC_S if not self._urgent else GROUP_COMMIT_S - (time.monotonic() - self._last_sync)
            if pause > 0:
                time.sleep(pause)
            self._urgent = False
            try:
                self.sync(upto=self._lazy_upto)
            except OSError:  # the fd was closed under us at close(), which syncs itself
                return
            self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            self._closing = True
            if self._flusher is not None and self._wake is not None:
                self._wake.set()
                self._flusher.join()
                self._flusher = None
            os.close(self._fd)
            self._fd = None
            self._closing = False


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
    """One record per attempt (an outcome line merged over its sent line), oldest first."""
    q = query or AuditQuery()
    merged: dict[str, dict[str, Any]] = {}  # id -> record, in the order the attempts were first seen
    pending: dict[str, str] = {}  # id -> key of its latest sent line still waiting for an outcome line
    anonymous: list[tuple[int, dict[str, Any]]] = []  # lines without an id (never expected; kept, not lost)
    skipped: list[int] = []
    for n, obj in iter_lines(path):
        if obj is None:
            skipped.append(n)
            continue
        rid = obj.get("id")
        if not isinstance(rid, str) or not rid:
            anonymous.append((len(merged), obj))
            continue
        if obj.get("phase") == SENT:
            key = rid if rid not in merged else f"{rid}#{n}"  # the same id sent again: its own attempt
            merged[key] = obj | {"result": UNRECORDED}
            pending[rid] = key
            continue
        if rid in pending:
            key = pending.pop(rid)
            # The attempt's time is when it was sent; the outcome line adds how long the reply took.
            sent = merged[key]
            merged[key] = obj | {"ts_ns": sent.get("ts_ns"), "utc": sent.get("utc")}
        else:
            merged[rid if rid not in merged else f"{rid}#{n}"] = obj
    ordered = list(merged.values())
    for pos, obj in reversed(anonymous):
        ordered.insert(pos, obj)
    records: list[dict[str, Any]] = []
    for obj in ordered:
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
