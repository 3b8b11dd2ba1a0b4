"""The archive's append-only, hash-chained manifest: one JSON object per line, the source of truth.

Every entry carries `prev` (the previous entry's hash; 64 zeros for the first) and `hash` = SHA-256 over the
entry's canonical JSON without `hash` (sorted keys, no spaces). Editing an entry breaks its own hash; moving,
removing or inserting one breaks the `prev` link or the `seq` count of the line after it. Truncating the tail
is caught by comparing with the duplicate manifest (see verify.py). Entries are never rewritten: a hold
release or a purge is a new entry.

Entry events: `archive` (object id, size, class, record kind, source, business date, retain-until, on_hold),
`hold` / `release` (hold id, object id, actor, reason) and `purge` (object id, sha256, retain-until, actor).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from flows.errors import ArchiveError

GENESIS = "0" * 64
EVENTS = ("archive", "hold", "release", "purge")


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def encode_entry(entry: dict[str, Any]) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n"


@dataclass(frozen=True)
class ChainFinding:
    """One manifest line that does not verify. `line` is 1-based."""

    line: int
    problem: str
    object_id: str | None = None

    def __str__(self) -> str:
        oid = f" object {self.object_id}" if self.object_id else ""
        return f"manifest line {self.line}{oid}: {self.problem}"


def parse_lines(data: bytes) -> list[tuple[int, dict[str, Any] | None, bytes]]:
    """(line number, parsed entry or None if unparseable, raw bytes) for every line of a manifest."""
    out: list[tuple[int, dict[str, Any] | None, bytes]] = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out.append((n, None, raw))
            continue
        out.append((n, obj if isinstance(obj, dict) else None, raw))
    return out


def check_chain(data: bytes) -> list[ChainFinding]:
    """Every problem in the chain, each naming its line. An empty list means the chain verifies."""
    findings: list[ChainFinding] = []
    prev = GENESIS
    if data and not data.endswith(b"\n"):
        findings.append(ChainFinding(data.count(b"\n") + 1, "last line is torn (no newline)"))
    for n, entry, _raw in parse_lines(data):
        if entry is None:
            findings.append(ChainFinding(n, "not a JSON object"))
            prev = ""  # unknown; the next line's link is reported too
            continue
        oid = entry.get("object_id") if isinstance(entry.get("object_id"), str) else None
        if entry.get("hash") != entry_hash(entry):
            findings.append(ChainFinding(n, "entry hash does not match its content (edited)", oid))
        if entry.get("prev") != prev:
            problem = "prev does not link to the previous entry (reordered, inserted or removed)"
            findings.append(ChainFinding(n, problem, oid))
        if entry.get("seq") != n:
            findings.append(ChainFinding(n, f"seq {entry.get('seq')!r} is not its position {n}", oid))
        if entry.get("event") not in EVENTS:
            findings.append(ChainFinding(n, f"unknown event {entry.get('event')!r}", oid))
        prev = str(entry.get("hash", ""))
    return findings


class Manifest:
    """Appends to the primary manifest and its duplicate under one lock; reads replay the primary."""

    def __init__(self, path: Path, duplicate: Path | None = None) -> None:
        self.path = path
        self.duplicate = duplicate
        self._lock_path = path.with_name(path.name + ".lock")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time across processes (the nightly flow and an operator's `opsctl archive hold`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def entries(self) -> list[dict[str, Any]]:
        return [e for _n, e, _raw in parse_lines(self.read_bytes()) if e is not None]

    def _tail(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, reading only the end of the file."""
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return 0, GENESIS
                back = min(size, 65536)
                fh.seek(size - back)
                chunk = fh.read(back)
        except FileNotFoundError:
            return 0, GENESIS
        lines = chunk.rstrip(b"\n").split(b"\n")
        try:
            last = orjson.loads(lines[-1])
            return int(last["seq"]), str(last["hash"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ArchiveError(
                f"{self.path}: last manifest line is unreadable; nothing appended (run `opsctl archive verify`)"
            ) from None

    def append(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain and append entries (caller holds `locked()`); fsynced before return. Returns them as written."""
        if not entries:
            return []
        seq, prev = self._tail()
        out: list[dict[str, Any]] = []
        blob = bytearray()
        for e in entries:
            seq += 1
            full = dict(e) | {"seq": seq, "prev": prev}
            full["hash"] = entry_hash(full)
            prev = full["hash"]
            out.append(full)
            blob += encode_entry(full)
        for target in (self.path, self.duplicate):
            if target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(bytes(blob))
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        return out
