"""The journal's single writer: append, group commit, segment roll and seal, recovery on open.

Why it is built like this: drop-copy events are books and records (17a-4); the writer must never report
as durable what an fdatasync has not covered, and recovery must never silently drop an acknowledged record.

One writer per journal directory (an flock on `.lock`). `append()` builds the stored records (copy + CRC)
and writes them to the active segment; `commit()` runs os.fdatasync and only then advances the durable
position. `maybe_commit()` commits when `commit_records` are pending or the oldest pending record is
`commit_ms` old, whichever comes first (group commit). With `background_io=True` (the capture's mode) the
SHA-256 update, the write and the fdatasync run on one helper thread in FIFO order, overlapping the next
batch's CRCs; a sync job covers every write queued before it, and the durable position advances only to
that job's target once its fdatasync returned. After every commit the durable position is published to
`durable.json` (write + rename, not fsynced: a hint for observers and tests, never ahead of what was
fsynced). Recovery does not trust it: it derives the position from the records (and fdatasyncs them).

Segments roll by size (`segment_bytes`) and on a new epoch; rolling seals the old one (trailer, fdatasync,
rename to .seg, fsync of the directory). `seal_journal(dir)` (core_bridge.journal.seal) seals the active
segment for end of day: directly when no writer holds the journal, else by leaving a `seal.request` file
that the running capture honours within a second (core_bridge.dropcopy). Only sealed segments are immutable
and safe to load.

Opening (`Journal.open`) verifies the tail: the last sealed segment's trailer, and every record of the
active segment; a torn last record (short write) or a tail of records with bad CRCs / broken sequence is
truncated — unless that would cut below the durable.json watermark, which is corruption and raises
JournalCorruptError rather than silently dropping acknowledged records.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from core_bridge.errors import JournalCorruptError, JournalError
from core_bridge.journal.background import IoThread
from core_bridge.journal.segment import (
    DURABLE_FILE,
    HEADER_SIZE,
    JOURNAL_DTYPE,
    STRIDE,
    TRAILER_SIZE,
    ZERO_HASH,
    SegmentInfo,
    body_count,
    check_records,
    list_segments,
    pack_header,
    pack_trailer,
    parse_header,
    parse_trailer,
    read_durable,
    record_crcs,
    segment_name,
)
from core_bridge.protocol import EVENT_DTYPE, EVENT_SIZE

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_COMMIT_RECORDS = 65_536
DEFAULT_COMMIT_MS = 5.0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The single writer of one journal directory. Not thread-safe; one process at a time (flock).

    With background_io, hashing, writes and the group commit's fdatasync run on a helper thread (FIFO); the
    durable position still only advances to what was written before that fdatasync (see maybe_commit)."""

    def __init__(self, journal_dir: Path, *, segment_bytes: int, commit_records: int, commit_ms: float,
                 background_io: bool = False) -> None:
        self.dir = journal_dir
        self.segment_bytes = max(segment_bytes, HEADER_SIZE + STRIDE)
        self.commit_records = commit_records
        self.commit_ns = int(commit_ms * 1e6)
        self._lock_fd = -1
        self._fd = -1
        self._path: Path | None = None
        self._hash = hashlib.sha256()
        self._index = 0
        self._seg_epoch = 0
        self._seg_first = 0
        self._seg_count = 0
        self._prev_hash = ZERO_HASH
        self.epoch = 0  # epoch and seq of the last appended record (0, 0 = empty journal)
        self.last_seq = 0
        self.durable: tuple[int, int] = (0, 0)
        self.records_total = 0
        self.durable_records = 0
        self._pending_since = 0
        self.truncated_records = 0
        self.commits = 0
        self._requested_records = 0  # records covered by an issued (maybe still running) fdatasync
        self._io = IoThread(self) if background_io else None

    # --- opening and recovery ---

    @classmethod
    def open(cls, journal_dir: str | Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
             commit_records: int = DEFAULT_COMMIT_RECORDS, commit_ms: float = DEFAULT_COMMIT_MS,
             background_io: bool = False) -> Journal:
        """Open (creating if needed), verify the tail, truncate a torn tail, and position after the last
        good record. Raises JournalError if another process holds the journal."""
        import fcntl

        jdir = Path(journal_dir)
        jdir.mkdir(parents=True, exist_ok=True)
        j = cls(jdir, segment_bytes=segment_bytes, commit_records=commit_records, commit_ms=commit_ms,
                background_io=background_io)
        j._lock_fd = os.open(jdir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(j._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(j._lock_fd)
            raise JournalError(f"journal {jdir} is open in another process") from None
        try:
            j._recover()
        except BaseException:
            j.close()
            raise
        return j

    def _recover(self) -> None:
        segs = list_segments(self.dir)
        opens = [s for s in segs if not s[3]]
        if len(opens) > 1 or (opens and opens[0] is not segs[-1]):
            raise JournalCorruptError("more than one unsealed segment, or an unsealed one before a sealed one",
                                      self.dir)
        total = 0
        for index, epoch, _first, sealed, path in segs:
            if sealed:
                tr_size = path.stat().st_size
                total += body_count(tr_size, True, path)
                self._index, self.epoch = index, epoch
        sealed_segs = [s for s in segs if s[3]]
        if sealed_segs:
            _i, _e, _f, _s, last_sealed = sealed_segs[-1]
            with last_sealed.open("rb") as fh:
                fh.seek(-TRAILER_SIZE, os.SEEK_END)
                tr = parse_trailer(fh.read(TRAILER_SIZE), last_sealed)
            self._prev_hash = tr.seal_hash
            self.last_seq = tr.last_seq
        self.records_total = total
        if opens:
            total += self._recover_open(opens[0])
            self.records_total = total
        self.durable = (self.epoch, self.last_seq)
        self.durable_records = self._requested_records = self.records_total
        self._publish_durable()

    def _recover_open(self, seg: tuple[int, int, int, bool, Path]) -> int:
        index, epoch, first, _sealed, path = seg
        raw = path.read_bytes()
        if len(raw) < HEADER_SIZE:
            # Crashed while creating the segment: nothing in it was ever durable.
            path.unlink()
            _fsync_dir(self.dir)
            return 0
        hdr = parse_header(raw[:HEADER_SIZE], path)
        if hdr.prev_hash != self._prev_hash or hdr.index != index:
            raise JournalCorruptError("active segment does not chain to the last sealed segment", path)
        n = (len(raw) - HEADER_SIZE) // STRIDE
        body = np.frombuffer(raw, dtype=JOURNAL_DTYPE, count=n, offset=HEADER_SIZE)
        good = check_records(body, first, epoch)
        if good == 0:
            # Nothing good in it (a crash right after creating it, or a torn first record): start afresh so the
            # next append may begin any epoch/seq.
            path.unlink()
            _fsync_dir(self.dir)
            self.truncated_records = n
            return 0
        keep = HEADER_SIZE + good * STRIDE
        if keep != len(raw):
            hint = read_durable(self.dir)
            if hint is not None and (int(hint["epoch"]), int(hint["seq"])) > (epoch, first + good - 1) and (
                int(hint["epoch"]) == epoch
            ):
                raise JournalCorruptError(
                    f"damaged record below the durable watermark (seq {hint['seq']})", path, good)
            self.truncated_records = n - good + (1 if (len(raw) - HEADER_SIZE) % STRIDE else 0)
            with open(path, "r+b") as fh:
                fh.truncate(keep)
                os.fsync(fh.fileno())
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        # What we read may still be only in the page cache (the writer was killed before its commit):
        # make it durable before calling it durable.
        os.fdatasync(self._fd)
        self._path = path
        self._hash = hashlib.sha256(raw[:keep])
        self._index, self._seg_epoch, self._seg_first, self._seg_count = index, epoch, first, good
        self.epoch, self.last_seq = epoch, first + good - 1
        return good

    # --- writing ---

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, seq) of the last appended record."""
        return (self.epoch, self.last_seq)

    @property
    def pending(self) -> int:
        return self.records_total - self.durable_records

    def append(self, records: np.ndarray) -> None:
        """Append a contiguous run of one epoch. It must follow the journal's position: the next seq of the
        current epoch, or any seq of a later epoch (which starts a new segment)."""
        n = len(records)
        if n == 0:
            return
        if records.dtype != EVENT_DTYPE:
            raise TypeError(f"records must have EVENT_DTYPE, got {records.dtype}")
        epoch, first = int(records["epoch"][0]), int(records["seq"][0])
        if epoch == self.epoch and first != self.last_seq + 1:
            raise JournalError(f"append of seq {first} in epoch {epoch} after seq {self.last_seq}: not contiguous")
        if epoch < self.epoch:
            raise JournalError(f"append of epoch {epoch} after epoch {self.epoch}")
        if epoch != self._seg_epoch or self._fd < 0:
            if self._fd >= 0:
                self.seal()
            self._new_segment(epoch, first)
        if not self._pending_since:
            self._pending_since = time.monotonic_ns()
        start = 0
        while start < n:
            room = (self.segment_bytes - HEADER_SIZE - self._seg_count * STRIDE) // STRIDE
            if room <= 0:
                self.seal()
                self._new_segment(epoch, first + start)
                continue
            part = records[start : start + room]
            self._write(part)
            start += len(part)
        self.epoch, self.last_seq = epoch, first + n - 1

    def _write(self, recs: np.ndarray) -> None:
        n = len(recs)
        out = np.empty(n, dtype=JOURNAL_DTYPE)
        # Byte-level copy: much faster than a field-by-field structured assignment.
        out.view(np.uint8).reshape(n, STRIDE)[:, :EVENT_SIZE] = np.ascontiguousarray(recs).view(np.uint8).reshape(
            n, EVENT_SIZE)
        # CRC from the caller's contiguous records (the wire payload) when we can: denser than the stride.
        if recs.flags.c_contiguous:
            out["crc"] = record_crcs(recs.view(np.uint8), n, EVENT_SIZE)
        else:
            out["crc"] = record_crcs(out.view(np.uint8), n, STRIDE)
        if self._io is not None:
            self._io.write(self._fd, out)
        else:
            buf = memoryview(out.view(np.uint8))  # type: ignore[arg-type]
            self._hash.update(buf)
            written = 0
            while written < len(buf):
                written += os.write(self._fd, buf[written:])
        self._seg_count += n
        self.records_total += n

    def _new_segment(self, epoch: int, first_seq: int) -> None:
        self._index += 1
        path = self.dir / segment_name(self._index, epoch, first_seq, sealed=False)
        header = pack_header(epoch, self._index, first_seq, time.time_ns(), self._prev_hash)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(self._fd, header)
        os.fsync(self._fd)
        _fsync_dir(self.dir)
        self._path = path
        self._hash = hashlib.sha256(header)
        self._seg_epoch, self._seg_first, self._seg_count = epoch, first_seq, 0

    def commit(self) -> None:
        """fdatasync the active segment, then advance and publish the durable position."""
        if self._io is not None:
            self._io.drain()
            self._reap()
        if self._fd >= 0 and self.pending:
            os.fdatasync(self._fd)
            self.commits += 1
        self._mark_durable()

    def _mark_durable(self) -> None:
        changed = self.durable_records != self.records_total
        self.durable = (self.epoch, self.last_seq)
        self.durable_records = self._requested_records = self.records_total
        self._pending_since = 0
        if changed:
            self._publish_durable()

    def _reap(self) -> None:
        """Take the result of a finished background fdatasync: advance durable to what it covered."""
        done = self._io.reap() if self._io is not None else None
        if done is not None and done[0] > self.durable_records:
            self.durable_records, self.durable = done[0], (done[1], done[2])
            self._publish_durable()

    def maybe_commit(self, now_ns: int | None = None) -> bool:
        """Group commit: commit if enough records wait or the oldest waited `commit_ms`, whichever first.

        In background mode this queues the fdatasync behind the writes and returns; a later call (or commit())
        reaps it. Its target is the position of the last write queued before it, so it never covers a record
        that was not written before the fdatasync.
        """
        self._reap()
        waiting = self.records_total - self._requested_records
        if waiting <= 0:
            return False
        now = now_ns if now_ns is not None else time.monotonic_ns()
        if waiting < self.commit_records and now - self._pending_since < self.commit_ns:
            return False
        if self._io is None:
            self.commit()
            return True
        if self._io.sync_pending:
            return False
        self._io.sync(self._fd, (self.records_total, self.epoch, self.last_seq))
        self._requested_records = self.records_total
        self._pending_since = 0
        self.commits += 1
        return True

    def seal(self) -> SegmentInfo | None:
        """Seal the active segment (trailer + fsync + rename to .seg). An empty segment is removed instead."""
        if self._fd < 0 or self._path is None:
            return None
        if self._io is not None:
            self._io.drain()  # every write of this segment hashed and on disk before the trailer
        if self._seg_count == 0:
            os.close(self._fd)
            self._fd = -1
            self._path.unlink()
            self._path = None
            self._index -= 1
            return None
        seal_hash = self._hash.digest()
        last = self._seg_first + self._seg_count - 1
        os.write(self._fd, pack_trailer(self._seg_count, self._seg_first, last, self._prev_hash, seal_hash))
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = -1
        sealed = self._path.with_suffix(".seg")
        os.replace(self._path, sealed)
        _fsync_dir(self.dir)
        info = SegmentInfo(sealed, self._index, self._seg_epoch, self._seg_first, last, self._seg_count, True,
                           seal_hash)
        self._prev_hash = seal_hash
        self._path = None
        self._mark_durable()
        return info

    def _publish_durable(self) -> None:
        doc = {"epoch": self.durable[0], "seq": self.durable[1], "records": self.durable_records,
               "updated_ns": time.time_ns()}
        tmp = self.dir / (DURABLE_FILE + ".tmp")
        tmp.write_bytes(json.dumps(doc).encode())
        os.replace(tmp, self.dir / DURABLE_FILE)

    def close(self, *, seal: bool = False) -> None:
        if self._fd >= 0:
            if seal:
                self.seal()
            if self._fd >= 0:
                self.commit()
                os.close(self._fd)
                self._fd = -1
        if self._io is not None:
            self._io.stop()
            self._io = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
