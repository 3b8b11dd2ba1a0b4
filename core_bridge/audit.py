"""The control audit log: who sent what to the core, why, and what came back.

Records are evidence (17a-4), so the log is append-only JSON lines, whole lines written with a single O_APPEND
write (several processes may append at once: one `write` of whole lines keeps lines whole).

A mutating command leaves two lines, joined by its idempotency id:
- a **sent** line (who, which key, what, why, the id). For a loosening command (or any command of a v1
  core, or a `--wait-durable` one) it is written before the command goes out, its flush (fdatasync) starts
  as the command leaves and overlaps the core's work, and the caller sees the outcome only once that line is
  on disk. For a command that is almost surely a tightening control under protocol v2 (a kill to a level
  other than ACTIVE, a cancel-all: `transport.likely_tightening`) it is encoded the moment the command has
  left, while the core works on it, and queued (`write_soon`: no system call on the kill's path, where an
  append can wait behind another process's journal commit); the group commit writes and flushes it within
  FLUSH_WINDOW_S, or once FLUSH_AFTER_BYTES are queued. The caller is not held for it: the contract is the
  core's own (docs/protocol.md §3.8): a kill is acked when applied and made durable right after, and the
  core's durable state records the same id, operator and reason. Should the core answer "durable" after all
  (it was a loosening), the line is flushed before the outcome is reported. `--wait-durable` waits for both;
- an **outcome** line (ok, refused, no_ack, bad_reply; the core's code and acked state version). It is on
  disk within FLUSH_WINDOW_S (one flush per window: every fdatasync costs the host CPU and disk time a
  control round trip feels), sooner with the next flush, and at close, not before the caller returns. A
  tightening ack's outcome line is built off the caller's path (`write_later`, during the next call or by
  the flusher) and holds only what the reply added (readers merge it over its sent line). A crash inside
  the window loses the lines still queued or unflushed: an attempt whose sent line reached the disk shows
  as `unrecorded`, and the core's own durable record of the id (its state log, and the replay of the
  original ack when the same id is sent again) says what it applied.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

AUDIT_FILE = Path("audit") / "control.jsonl"
# A line nobody waits for is written and flushed within FLUSH_WINDOW_S, or as soon as FLUSH_AFTER_BYTES of them
# are queued (a group commit by time or size, as a database's WAL writer): under a burst of kills one write +
# fdatasync takes hundreds of lines instead of each costing the host a flush a control round trip feels.
FLUSH_WINDOW_S = 0.1
FLUSH_AFTER_BYTES = 256 * 1024
GROUP_COMMIT_S = 0.001  # the least time between two urgent flusher-thread flushes (a group commit)
SENT = "sent"  # the phase of a line written when the command went out; outcome lines carry "outcome"
UNRECORDED = "unrecorded"  # a sent line whose outcome line never reached the disk


def default_path(home: Path | None = None) -> Path:
    if home is None:
        from core_bridge.settings import load_settings

        home = load_settings().home
    return home / AUDIT_FILE


_utc_second: tuple[int, str] = (-1, "")  # the last second formatted (audit lines come in bursts)


def utc_text(ts_ns: int) -> str:
    """ISO-8601 UTC with microseconds and a Z, e.g. 2026-11-20T14:31:07.123456Z."""
    global _utc_second
    secs, rem = divmod(ts_ns, 1_000_000_000)
    cached = _utc_second
    if cached[0] != secs:
        cached = _utc_second = (secs, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)))
    return f"{cached[1]}.{rem // 1000:06d}Z"


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
    """Append-only writer; keeps the file open (O_APPEND) so a batch of lines costs one write (+ one fdatasync).

    Lines are numbered by generation as they are accepted: `write` writes at once; `write_soon` encodes
    now and queues the write; `write_later` queues a record to be built later. Queued lines keep their order
    and are written ahead of the next `write`, by the flusher thread within FLUSH_WINDOW_S, or by
    `sync`/`close`. `sync(upto)` makes every line up to a generation durable."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()  # guards the counters and the queue; never held across a system call
        self._io_lock = threading.Lock()  # one writer at a time, so lines reach the file in accepted order
        self._accepted = 0  # generation of the last line accepted (written or queued)
        self._written = 0  # generation of the last line written to the file
        self._synced = 0  # generation known to be on disk
        self._queued: list[bytes | Callable[[], bytes]] = []  # lines accepted, not yet written
        self._queued_bytes = 0  # of the queued lines already encoded
        self._built = 0  # queued lines before this index are encoded
        self._wake: threading.Event | None = None
        self._flusher: threading.Thread | None = None
        self._closing = False
        self._due = False  # the flusher has been asked for a flush it has not started yet
        self._urgent = False  # that flush is for a line a caller may wait for: now, not after FLUSH_WINDOW_S
        self._last_sync = 0.0  # monotonic time the flusher's last flush ended

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return self._fd

    def _encode_queued_locked(self) -> None:
        """Build the queued lines still unbuilt (the caller holds `_lock`): only those queued since the last
        build, so a long queue between two flushes costs nothing more per line."""
        queued = self._queued
        for i in range(self._built, len(queued)):
            item = queued[i]
            if not isinstance(item, bytes):
                queued[i] = line = item()
                self._queued_bytes += len(line)
        self._built = len(queued)

    def _write_out(self, line: bytes = b"") -> int:
        """Write the queued lines, then `line` (if any), in one write; returns the generation written up to.
        Only `_io_lock` is held during the system call, so a `write_soon` never waits behind it."""
        with self._io_lock:
            with self._lock:
                queued, self._queued = self._queued, []
                self._queued_bytes = self._built = 0
                if line:
                    self._accepted += 1
                upto = self._accepted
            if queued:
                # Records still unbuilt here were left by a caller that went quiet (built on this thread).
                line = b"".join(x if isinstance(x, bytes) else x() for x in queued) + line
            if line:
                fd = self._open()
                written = os.write(fd, line)
                if written != len(line):  # a short write on a full disk: say so, never leave it silent
                    raise OSError(f"audit log short write ({written} of {len(line)} bytes) to {self.path}")
            with self._lock:
                self._written = max(self._written, upto)
            return upto

    def write(self, record: AuditRecord) -> int:
        """Write one line (after any queued ones) now, without waiting for the disk; `sync()` or the flusher
        makes it durable. Returns the line's generation (what `sync(upto=...)` takes)."""
        return self._write_out(record.to_json())

    def write_soon(self, line: bytes) -> int:
        """Queue one encoded line (`AuditRecord.to_json()`) for the flusher (within FLUSH_WINDOW_S), the next
        `write` or a `sync`: no system call on the caller's path, where a file append can wait behind the
        journal of another process's flush. Queued unbuilt lines are built here, in order. Returns its
        generation."""
        with self._lock:
            if self._built < len(self._queued):
                self._encode_queued_locked()
            self._queued.append(line)
            self._built += 1
            self._queued_bytes += len(line)
            self._accepted += 1
            gen = self._accepted
            full = self._queued_bytes >= FLUSH_AFTER_BYTES
        self._ask(urgent=full)
        return gen

    def write_later(self, make: Callable[[], bytes]) -> int:
        """Accept a line that `make()` builds (encoded) later, off the caller's path (at the next `write_soon`
        or `write`, or by the flusher within FLUSH_WINDOW_S). Returns its generation."""
        with self._lock:
            self._queued.append(make)
            self._accepted += 1
            gen = self._accepted
        self._ask(urgent=False)
        return gen

    def sync(self, upto: int | None = None) -> None:
        """Make every line accepted so far (or up to generation `upto`) durable; no flush when already so."""
        with self._lock:
            if (self._accepted if upto is None else upto) <= self._synced:
                return
        written = self._write_out()  # one fdatasync covers everything written before it starts
        if self._fd is None:
            return
        os.fdatasync(self._fd)
        with self._lock:
            self._synced = max(self._synced, written)

    def generations(self) -> tuple[int, int]:
        """(lines accepted, lines known durable) by this writer so far."""
        with self._lock:
            return self._accepted, self._synced

    def pending_lines(self) -> int:
        """Lines accepted but not yet known to be on disk."""
        with self._lock:
            return self._accepted - self._synced

    def append(self, record: AuditRecord) -> None:
        """Write one line and make it durable before returning."""
        self.sync(self.write(record))

    def append_lazy(self, record: AuditRecord) -> None:
        """Write one line now; it becomes durable within FLUSH_WINDOW_S (or sooner, by the next sync)."""
        self.write(record)
        self._ask(urgent=False)

    def sync_soon(self, upto: int) -> None:
        """Have the flusher thread make lines up to `upto` durable now (group commit) while the caller goes
        on: a line the caller may soon wait for, so that `sync(upto)` then finds it done."""
        with self._lock:
            if upto <= self._synced:
                return
        self._ask(urgent=True)

    def _ask(self, *, urgent: bool) -> None:
        if urgent:
            self._urgent = True
        elif self._due:
            return  # a flush is already coming within the window: it takes this line too
        self._due = True
        if self._flusher is None:
            self._wake = threading.Event()
            self._flusher = threading.Thread(target=self._flush_loop, name="audit-flush", daemon=True)
            self._flusher.start()
        assert self._wake is not None
        self._wake.set()

    def _flush_loop(self) -> None:
        assert self._wake is not None
        wake = self._wake
        while True:
            wake.wait()
            # A window, not a poll: lines nobody waits for share one flush per FLUSH_WINDOW_S, because every
            # fdatasync costs the host CPU and disk time that a control round trip feels (measured in
            # bench/bench_control.py). An urgent request (a line a caller may wait for) ends the window;
            # urgent flushes are still spaced GROUP_COMMIT_S apart, so one fdatasync takes a burst's lines.
            deadline = time.monotonic() + FLUSH_WINDOW_S
            while True:
                wake.clear()
                if self._closing:
                    return
                if self._urgent:
                    pause = GROUP_COMMIT_S - (time.monotonic() - self._last_sync)
                    if pause > 0:
                        time.sleep(pause)
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not wake.wait(left):
                    break
            self._urgent = False
            self._due = False  # before the flush: a line accepted from now on asks for the next one
            try:
                self.sync()
            except (OSError, ValueError):  # the fd was closed under us at close(), which syncs itself
                return
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        if self._flusher is not None and self._wake is not None:
            self._closing = True
            self._wake.set()
            self._flusher.join()
            self._flusher = None
        self.sync()  # anything the flusher took but had not written
        if self._fd is not None:
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
            # The attempt's time is when it was sent; the outcome line adds how long the reply took. An ok
            # outcome of the kill path carries only what the reply added: the rest is its sent line's.
            sent = merged[key]
            merged[key] = {k: v for k, v in sent.items() if k != "result"} | obj | {"ts_ns": sent.get("ts_ns"),
                                                                               "utc": sent.get("utc")}
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
