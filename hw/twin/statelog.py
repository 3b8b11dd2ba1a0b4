"""Framing of the twin's state-delta log (`state.log`): a header line naming the snapshot it follows, then
length + CRC-32 framed records, one per persisted change.

Why a log: making a command durable then costs one small write + fdatasync, instead of rewriting the whole
state file with fsync, rename and a directory fsync. The full state file (`state.json`) is the snapshot the
log is replayed on; it is rewritten on start and every so many records (see `statestore.py`).

File layout::

    colo-ops-twin-log v1 id=<16 hex digits: the log_id the snapshot names>\\n
    record*   record = <u32 LE payload length> <u32 LE CRC-32 of the payload> <payload bytes>
    zeros     the rest of the preallocated segment, not yet written

The writer creates each log as a zero-filled segment (written and fsync'd once) and writes records in place
over the zeros: the file's size and block map then never change per record, so fdatasync has only the data
to flush and no filesystem journal commit to wait for (measured here: ~30 us less at p50, and a shorter
tail when the audit log's own fdatasync follows on the same filesystem). A log simply appended to (no
zero tail) reads the same.

Reading tells the normal end (only zeros, or the end of the file, after the last record) and a *torn tail*
(a short or checksum-failing last record followed only by zeros or the end: the write a crash cut short)
from a *corrupt body* (a bad record with non-zero data after it). A torn tail is the expected result of a
crash before the write was acknowledged, so it is dropped; a corrupt body is not, so the caller treats the
whole state as unknown. Limitation: a damaged length field that points past the end of the file cannot be
told from a torn tail (CRC-32 guards payloads, not their position).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

LOG_MAGIC = b"colo-ops-twin-log v1 id="
_HEAD = struct.Struct("<II")
MAX_RECORD = 64 * 1024 * 1024  # a state delta is KBs; anything larger is damage, not data


class LogCorrupt(ValueError):
    """The log body is damaged (not merely a torn tail); carries the byte offset at fault."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


@dataclass
class LogRead:
    log_id: str | None  # None: the header itself is missing or torn (nothing was ever appended after it)
    records: list[bytes]
    good_end: int  # byte offset after the last whole record; a torn tail starts here
    torn: bool


def log_header(log_id: str) -> bytes:
    return LOG_MAGIC + log_id.encode("ascii") + b"\n"


def frame_record(payload: bytes) -> bytes:
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _zeros(raw: bytes, start: int) -> bool:
    return raw.count(0, start) == len(raw) - start


def read_log(raw: bytes) -> LogRead:
    """Split a log file into its id and whole records; raises LogCorrupt for a damaged body."""
    nl = raw.find(b"\n")
    if nl < 0:
        # The header is written through a fsync'd temp file and a rename, so a short one is a torn creation
        # only if it is a prefix of a valid header; anything else is damage.
        if LOG_MAGIC.startswith(raw[: len(LOG_MAGIC)]) and len(raw) < len(LOG_MAGIC) + 17:
            return LogRead(None, [], 0, bool(raw))
        raise LogCorrupt("log header unreadable", 0)
    head = raw[:nl]
    if not head.startswith(LOG_MAGIC):
        raise LogCorrupt("not a twin state log (bad header)", 0)
    log_id = head[len(LOG_MAGIC) :].decode("ascii", "replace")
    records: list[bytes] = []
    pos = nl + 1
    end = len(raw)
    while pos < end:
        whole = pos + _HEAD.size <= end
        length, crc = _HEAD.unpack_from(raw, pos) if whole else (0, 0)
        body_end = pos + _HEAD.size + length
        if whole and 0 < length <= MAX_RECORD and body_end <= end:
            payload = raw[pos + _HEAD.size : body_end]
            if zlib.crc32(payload) == crc:
                records.append(payload)
                pos = body_end
                continue
        # No record here. Only zeros from here on: the preallocated space not yet written, the normal end.
        if _zeros(raw, pos):
            return LogRead(log_id, records, pos, False)
        # A bad record followed by nothing but zeros (or the end) is a write the crash cut short: a torn tail.
        sane = whole and 0 < length <= MAX_RECORD
        after = body_end if sane else pos + _HEAD.size
        if after >= end or _zeros(raw, after):
            return LogRead(log_id, records, pos, True)
        raise LogCorrupt("record damaged" if sane else "record length out of range", pos)
    return LogRead(log_id, records, pos, False)
