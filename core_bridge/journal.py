"""The drop-copy journal: append-only, CRC'd, group-committed, hash-chained segment files.

Why: drop-copy events are books and records (17a-4). The journal must never lose what it reported as
durable, must show any later tampering, and must be cheap enough to keep up with the core (>1 M events/s).

On-disk layout (all integers little-endian)
--------------------------------------------
A journal is one directory. Segment files are numbered by a journal-wide, gapless segment *index*::

    <index:08d>-<epoch:010d>-<first_seq:016d>.open   the one active (unsealed) segment, at most one, last
    <index:08d>-<epoch:010d>-<first_seq:016d>.seg    sealed segments (immutable once sealed)
    durable.json                                      watermark hint for observers (see "Durability")

A segment holds records of ONE epoch only (the core restarts with a new epoch and seq from 1, so the
journal order is (epoch, seq); a new epoch always starts a new segment). Segment file::

    header   128 bytes  SEGMENT_HEADER: magic b"COJOURNL", version, header size, record size (128),
                        stride (132), epoch u32, index u64, first_seq u64, created_ns i64,
                        prev_hash 32 bytes (the previous segment's seal hash; 32 zero bytes for index 1),
                        zero padding, CRC32 of the preceding 124 bytes
    records  N x 132    the 128-byte EVENT_DTYPE record exactly as on the wire + CRC32 (u32) of those 128 bytes;
                        seq is contiguous: record i has seq first_seq + i
    trailer  128 bytes  sealed segments only — SEAL_TRAILER: magic b"COJSEAL1", count u64, first_seq u64,
                        last_seq u64, prev_hash 32, seal_hash 32, sealed_ns i64, padding, CRC32 of the first 124

    seal_hash = SHA-256(header bytes || record bytes)   (the header carries prev_hash, so seals form a chain)

Durability
----------
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
rename to .seg, fsync of the directory). `seal_journal(dir)` seals the active segment for end of day:
directly when no writer holds the journal, else by leaving a `seal.request` file that the running capture
honours within a second (see dropcopy.py). Only sealed segments are immutable and safe to load.

Opening (`Journal.open`) verifies the tail: the last sealed segment's trailer, and every record of the
active segment; a torn last record (short write) or a tail of records with bad CRCs / broken sequence is
truncated — unless that would cut below the durable.json watermark, which is corruption and raises
JournalCorruptError rather than silently dropping acknowledged records.

Reader API (for the ops-store loader and tools)
-----------------------------------------------
    iter_sealed_segments(journal_dir) -> Iterator[SegmentInfo]    sealed segments in journal order, from the
                                                                   file names and trailers (cheap; no body read)
    read_segment(path) -> np.ndarray[EVENT_DTYPE]                  all records of one segment (sealed or active),
                                                                   CRC-checked, contiguous copy; raises
                                                                   JournalCorruptError naming file + record
    iter_records(journal_dir, after=(epoch, seq)) -> Iterator[np.ndarray]   batches in journal order
    verify(journal_dir) -> VerifyReport                            full check: CRCs, seqs, seals, chain, gaps

A loader that is idempotent by sequence keeps (epoch, last_seq) per loaded segment; SegmentInfo carries
epoch, first_seq, last_seq, count, seal_hash and path.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.errors import JournalCorruptError, JournalError
from core_bridge.protocol import EVENT_DTYPE, EVENT_SIZE

JOURNAL_VERSION = 1
HEADER_MAGIC = b"COJOURNL"
SEAL_MAGIC = b"COJSEAL1"
HEADER_SIZE = 128
TRAILER_SIZE = 128
STRIDE = EVENT_SIZE + 4
ZERO_HASH = b"\x00" * 32
DURABLE_FILE = "durable.json"
SEAL_REQUEST_FILE = "seal.request"

# magic, version, header_size, record_size, stride, epoch, index, first_seq, created_ns, prev_hash
_HEADER = struct.Struct("<8sHHHHIQQq32s")
# magic, count, first_seq, last_seq, prev_hash, seal_hash, sealed_ns
_TRAILER = struct.Struct("<8sQQQ32s32sq")

# A stored record: the wire record followed by its CRC32.
JOURNAL_DTYPE = np.dtype([("rec", EVENT_DTYPE), ("crc", "<u4")])
assert JOURNAL_DTYPE.itemsize == STRIDE

_NAME = re.compile(r"^(\d{8})-(\d{10})-(\d{16})\.(seg|open)$")

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_COMMIT_RECORDS = 65_536
DEFAULT_COMMIT_MS = 5.0


def segment_name(index: int, epoch: int, first_seq: int, *, sealed: bool) -> str:
    return f"{index:08d}-{epoch:010d}-{first_seq:016d}.{'seg' if sealed else 'open'}"


_SLICES: dict[int, list[slice]] = {}


def record_crcs(buf: bytes | memoryview | np.ndarray, count: int, stride: int = EVENT_SIZE) -> np.ndarray:
    """CRC32 of each 128-byte record in `buf` (records `stride` bytes apart).

    One zlib call per record, driven by map() over cached slice objects so no Python bytecode runs per
    record. Measured here: ~5.5 M records/s, vs ~3.6 M/s for a generator and ~4-5 M/s for numpy
    table-driven CRCs vectorised across records (byte-wise or 16-bit tables).
    """
    slices = _SLICES.get(stride)
    if slices is None or len(slices) < count:
        slices = _SLICES[stride] = [slice(o, o + EVENT_SIZE) for o in range(0, max(count, 8192) * stride, stride)]
    mv = memoryview(buf).cast("B")  # type: ignore[arg-type]
    return np.fromiter(map(zlib.crc32, map(mv.__getitem__, slices[:count])), dtype=np.uint32, count=count)


def _pack_header(epoch: int, index: int, first_seq: int, created_ns: int, prev_hash: bytes) -> bytes:
    body = _HEADER.pack(HEADER_MAGIC, JOURNAL_VERSION, HEADER_SIZE, EVENT_SIZE, STRIDE, epoch, index, first_seq,
                        created_ns, prev_hash)
    body = body.ljust(HEADER_SIZE - 4, b"\x00")
    return body + struct.pack("<I", zlib.crc32(body))


@dataclass(frozen=True)
class SegmentHeader:
    epoch: int
    index: int
    first_seq: int
    created_ns: int
    prev_hash: bytes


def parse_header(raw: bytes, path: Path | str) -> SegmentHeader:
    if len(raw) < HEADER_SIZE:
        raise JournalCorruptError(f"segment header truncated ({len(raw)} of {HEADER_SIZE} bytes)", path)
    raw = raw[:HEADER_SIZE]
    if struct.unpack("<I", raw[-4:])[0] != zlib.crc32(raw[:-4]):
        raise JournalCorruptError("segment header CRC mismatch", path)
    magic, version, hsize, rsize, stride, epoch, index, first_seq, created_ns, prev = _HEADER.unpack_from(raw)
    if magic != HEADER_MAGIC:
        raise JournalCorruptError(f"bad segment magic {magic!r}", path)
    if (version, hsize, rsize, stride) != (JOURNAL_VERSION, HEADER_SIZE, EVENT_SIZE, STRIDE):
        raise JournalCorruptError(f"unsupported segment format v{version} {hsize}/{rsize}/{stride}", path)
    return SegmentHeader(epoch, index, first_seq, created_ns, prev)


def _pack_trailer(count: int, first_seq: int, last_seq: int, prev_hash: bytes, seal_hash: bytes) -> bytes:
    body = _TRAILER.pack(SEAL_MAGIC, count, first_seq, last_seq, prev_hash, seal_hash, time.time_ns())
    body = body.ljust(TRAILER_SIZE - 4, b"\x00")
    return body + struct.pack("<I", zlib.crc32(body))


@dataclass(frozen=True)
class SealTrailer:
    count: int
    first_seq: int
    last_seq: int
    prev_hash: bytes
    seal_hash: bytes
    sealed_ns: int


def parse_trailer(raw: bytes, path: Path | str) -> SealTrailer:
    if len(raw) != TRAILER_SIZE or struct.unpack("<I", raw[-4:])[0] != zlib.crc32(raw[:-4]):
        raise JournalCorruptError("seal trailer damaged (CRC mismatch)", path)
    magic, count, first, last, prev, seal, sealed_ns = _TRAILER.unpack_from(raw)
    if magic != SEAL_MAGIC:
        raise JournalCorruptError(f"bad seal magic {magic!r}", path)
    return SealTrailer(count, first, last, prev, seal, sealed_ns)


@dataclass(frozen=True)
class SegmentInfo:
    """One segment as the reader API sees it. `last_seq` is first_seq - 1 for an empty segment."""

    path: Path
    index: int
    epoch: int
    first_seq: int
    last_seq: int
    count: int
    sealed: bool
    seal_hash: bytes | None = None


def list_segments(journal_dir: Path) -> list[tuple[int, int, int, bool, Path]]:
    """(index, epoch, first_seq, sealed, path) of every segment file, in index order."""
    out: list[tuple[int, int, int, bool, Path]] = []
    if not journal_dir.is_dir():
        return out
    for p in journal_dir.iterdir():
        m = _NAME.match(p.name)
        if m:
            out.append((int(m[1]), int(m[2]), int(m[3]), m[4] == "seg", p))
    out.sort(key=lambda t: t[0])
    return out


def iter_sealed_segments(journal_dir: str | Path) -> Iterator[SegmentInfo]:
    """Sealed segments in journal order (by index), described from name and trailer; bodies are not read."""
    for index, epoch, first, sealed, path in list_segments(Path(journal_dir)):
        if not sealed:
            continue
        with path.open("rb") as fh:
            fh.seek(-TRAILER_SIZE, os.SEEK_END)
            tr = parse_trailer(fh.read(TRAILER_SIZE), path)
        yield SegmentInfo(path, index, epoch, first, tr.last_seq, tr.count, True, tr.seal_hash)


def _body_count(size: int, sealed: bool, path: Path) -> int:
    body = size - HEADER_SIZE - (TRAILER_SIZE if sealed else 0)
    if body < 0 or (sealed and body % STRIDE):
        raise JournalCorruptError(f"segment size {size} is not header + whole records + trailer", path)
    return body // STRIDE


def _check_records(body: np.ndarray, first_seq: int, epoch: int) -> int:
    """Index of the first record whose CRC, seq or epoch is wrong; len(body) if all are good."""
    n = len(body)
    if n == 0:
        return 0
    crcs = record_crcs(body.view(np.uint8).reshape(-1), n, STRIDE)
    recs = body["rec"]
    ok = (crcs == body["crc"]) & (recs["seq"] == np.arange(first_seq, first_seq + n, dtype=np.uint64))
    ok &= recs["epoch"] == epoch
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if len(bad) else n


def read_segment(path: str | Path) -> np.ndarray:
    """Every record of one segment as a contiguous EVENT_DTYPE array, after checking each record's CRC and
    sequence. Raises JournalCorruptError naming the file and record index on any damage — except past the
    durable watermark of the active (.open) segment, where a running writer may be mid-write: there the
    good prefix is returned."""
    path = Path(path)
    raw = path.read_bytes()
    hdr = parse_header(raw[:HEADER_SIZE], path)
    sealed = path.suffix == ".seg"
    n = _body_count(len(raw), sealed, path)
    body = np.frombuffer(raw, dtype=JOURNAL_DTYPE, count=n, offset=HEADER_SIZE)
    bad = _check_records(body, hdr.first_seq, hdr.epoch)
    if bad < n:
        durable = read_durable(path.parent) if not sealed else None
        in_flight = durable is not None and not (
            int(durable["epoch"]) == hdr.epoch and int(durable["seq"]) >= hdr.first_seq + bad)
        if not in_flight:
            raise JournalCorruptError(
                f"record CRC/sequence check failed (expected seq {hdr.first_seq + bad})", path, bad
            )
        # The active segment of a running capture: records past the durable watermark may be mid-write.
        # A reader gets the good prefix; damage at or below the watermark still raises.
        body = body[:bad]
    return np.ascontiguousarray(body["rec"])


def iter_records(journal_dir: str | Path, after: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Record batches (one per segment, sealed and active) in journal order, skipping (epoch, seq) <= after.
    Segments wholly at or before `after` are skipped by name, without reading them."""
    segs = list_segments(Path(journal_dir))
    for i, (_index, epoch, _first, _sealed, path) in enumerate(segs):
        if after is not None:
            if epoch < after[0]:
                continue  # an earlier epoch: all of it is before `after`
            nxt = segs[i + 1] if i + 1 < len(segs) else None
            if epoch == after[0] and nxt is not None and nxt[1] == epoch and nxt[2] - 1 <= after[1]:
                continue  # the next segment starts at or before after+1: this one ends at or before `after`
        recs = read_segment(path)
        if after is not None and epoch == after[0] and len(recs):
            recs = recs[recs["seq"] > after[1]]
        if len(recs):
            yield recs


# ---------------------------------------------------------------------------------------------------------
# Verification


@dataclass
class VerifyProblem:
    kind: str  # record_crc | record_seq | header | trailer | seal_hash | chain | index_gap | seq_gap | tail | layout
    file: str
    message: str
    record: int | None = None  # record index inside the file
    seq: int | None = None  # the sequence number expected at that record

    def where(self) -> str:
        s = self.file
        if self.record is not None:
            s += f" record {self.record}"
        if self.seq is not None:
            s += f" (seq {self.seq})"
        return s


@dataclass
class VerifyReport:
    journal_dir: str
    segments: int = 0
    sealed: int = 0
    records: int = 0
    epochs: list[int] = field(default_factory=list)
    last: tuple[int, int] | None = None  # (epoch, seq) of the last good record
    problems: list[VerifyProblem] = field(default_factory=list)
    unsettled_bytes: int = 0  # past the durable watermark in the active segment: in flight or a torn tail

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> VerifyProblem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def verify(journal_dir: str | Path) -> VerifyReport:
    """Check every record CRC and sequence, every header, seal and chain link, segment index and sequence
    continuity, and the durable watermark. Problems are listed in journal order, the first one first."""
    jdir = Path(journal_dir)
    rep = VerifyReport(str(jdir))
    segs = list_segments(jdir)
    hint = read_durable(jdir)
    durable_at = (int(hint["epoch"]), int(hint["seq"])) if hint is not None else None
    prev_hash = ZERO_HASH
    prev: tuple[int, int, str] | None = None  # (epoch, last_seq, file) of the previous segment
    expect_index = 1
    for pos, (index, epoch, first, sealed, path) in enumerate(segs):
        name = path.name
        rep.segments += 1
        if index != expect_index:
            rep.problems.append(VerifyProblem(
                "index_gap", name, f"segment index {index} follows {expect_index - 1}: "
                f"segment(s) {expect_index}..{index - 1} missing"))
        expect_index = index + 1
        if not sealed and pos != len(segs) - 1:
            rep.problems.append(VerifyProblem("layout", name, "unsealed segment is not the last one"))
        raw = path.read_bytes()
        try:
            hdr = parse_header(raw[:HEADER_SIZE], name)
        except JournalCorruptError as exc:
            rep.problems.append(VerifyProblem("header", name, str(exc)))
            prev_hash = b"?" * 32
            prev = None
            continue
        if (hdr.index, hdr.epoch, hdr.first_seq) != (index, epoch, first):
            rep.problems.append(VerifyProblem("header", name, "header disagrees with the file name"))
        if hdr.prev_hash != prev_hash:
            rep.problems.append(VerifyProblem(
                "chain", name, f"chain broken: header prev_hash {hdr.prev_hash.hex()[:16]}… does not match the "
                f"previous seal {prev_hash.hex()[:16]}…"))
        if prev is not None:
            p_epoch, p_last, p_file = prev
            if epoch == p_epoch and first != p_last + 1:
                rep.problems.append(VerifyProblem(
                    "seq_gap", name, f"sequence gap: {p_file} ends at seq {p_last}, this segment starts at {first}",
                    0, p_last + 1))
            elif epoch < p_epoch:
                rep.problems.append(VerifyProblem("seq_gap", name, f"epoch {epoch} after epoch {p_epoch}", 0, first))
        body_len = len(raw) - HEADER_SIZE - (TRAILER_SIZE if sealed else 0)
        whole = body_len >= 0 and body_len % STRIDE == 0
        # Records of the active segment past the durable watermark may be mid-write (a running capture) or a
        # torn tail that Journal.open truncates: counted as unsettled, not reported as damage.
        settled = n_all = (len(raw) - HEADER_SIZE) // STRIDE
        if not sealed and durable_at is not None:
            settled = n_all if durable_at[0] > epoch else max(0, durable_at[1] - first + 1) if (
                durable_at[0] == epoch) else 0
        if not whole:
            # A sealed file that is not header + records + trailer has lost its tail (and its trailer).
            n = n_all
            stray = (len(raw) - HEADER_SIZE) % STRIDE
            if sealed or n < settled:
                rep.problems.append(VerifyProblem(
                    "tail", name, f"segment truncated: {n} whole records then {stray} stray bytes"
                    + (", seal trailer missing" if sealed else ""), n, first + n))
            else:
                rep.unsettled_bytes += stray
        else:
            n = body_len // STRIDE
        body = np.frombuffer(raw, dtype=JOURNAL_DTYPE, count=n, offset=HEADER_SIZE)
        bad = _check_records(body, first, epoch)
        if not sealed and settled <= bad < n:
            rep.unsettled_bytes += (n - bad) * STRIDE
            n = bad
        if bad < n:
            rec = body["rec"][bad]
            crc_ok = zlib.crc32(raw[HEADER_SIZE + bad * STRIDE: HEADER_SIZE + bad * STRIDE + EVENT_SIZE]) == int(
                body["crc"][bad])
            kind = "record_seq" if crc_ok else "record_crc"
            what = (f"record holds seq {int(rec['seq'])} epoch {int(rec['epoch'])}" if crc_ok else "CRC32 mismatch")
            rep.problems.append(VerifyProblem(kind, name, what, bad, first + bad))
        good = bad
        rep.records += n
        if epoch not in rep.epochs:
            rep.epochs.append(epoch)
        if good:
            rep.last = (epoch, first + good - 1)
        seal_hash = hashlib.sha256(raw[: HEADER_SIZE + n * STRIDE]).digest()
        if sealed and whole:
            rep.sealed += 1
            try:
                tr = parse_trailer(raw[-TRAILER_SIZE:], name)
            except JournalCorruptError as exc:
                rep.problems.append(VerifyProblem("trailer", name, str(exc)))
                tr = None
            if tr is not None:
                if (tr.count, tr.first_seq, tr.last_seq) != (n, first, first + n - 1):
                    rep.problems.append(VerifyProblem(
                        "trailer", name, f"seal says {tr.count} records {tr.first_seq}..{tr.last_seq}, "
                        f"file holds {n} from {first}"))
                if tr.seal_hash != seal_hash:
                    rep.problems.append(VerifyProblem("seal_hash", name, "seal SHA-256 does not match the segment"))
                if tr.prev_hash != hdr.prev_hash:
                    rep.problems.append(VerifyProblem("chain", name, "seal prev_hash differs from header"))
                seal_hash = tr.seal_hash
        prev_hash = seal_hash
        prev = (epoch, first + n - 1, name)
    if durable_at is not None:  # read before the segments, so everything up to it must have been there
        d = durable_at
        if d[1] > 0 and (rep.last is None or d > rep.last):
            rep.problems.append(VerifyProblem(
                "tail", DURABLE_FILE, f"records acknowledged durable up to epoch {d[0]} seq {d[1]} are missing "
                f"(journal ends at {rep.last})", None, d[1]))
    return rep


def read_durable(journal_dir: str | Path) -> dict[str, int] | None:
    """The durable watermark hint {epoch, seq, records, updated_ns}, or None if never written."""
    try:
        return dict(json.loads((Path(journal_dir) / DURABLE_FILE).read_text()))
    except (FileNotFoundError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------------
# Writer


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _IoThread:
    """Hashing, writing and fdatasync off the appending thread, in FIFO order.

    hashlib (for buffers > 2 KiB), os.write and os.fdatasync all release the GIL, so they overlap the next
    batch's CRCs on the appending thread. A sync job fdatasyncs after every write queued before it, and
    reports its target (records, epoch, seq) as durable only when the fdatasync returned."""

    def __init__(self, journal: Journal, depth: int = 64) -> None:
        self._j = journal
        self._q: queue.Queue[tuple[str, int, Any]] = queue.Queue(maxsize=depth)
        self._lock = threading.Lock()
        self._done: tuple[int, int, int] | None = None
        self._error: OSError | None = None
        self.sync_pending = False
        self._thread = threading.Thread(target=self._loop, name="journal-io", daemon=True)
        self._thread.start()

    def write(self, fd: int, buf: np.ndarray) -> None:
        self._check()
        self._q.put(("write", fd, buf))

    def sync(self, fd: int, target: tuple[int, int, int]) -> None:
        self._check()
        self.sync_pending = True
        self._q.put(("sync", fd, target))

    def drain(self) -> None:
        """Wait until everything queued so far is hashed, written (and synced, if asked)."""
        self._q.join()
        self._check()

    def reap(self) -> tuple[int, int, int] | None:
        self._check()
        with self._lock:
            done, self._done = self._done, None
        return done

    def _check(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise JournalError(f"journal write/fdatasync failed: {err}")

    def _loop(self) -> None:
        while True:
            kind, fd, arg = self._q.get()
            try:
                if kind == "stop":
                    return
                if self._error is not None:
                    continue  # after a failed write nothing more may be written or acknowledged
                if kind == "write":
                    mv = memoryview(arg.view(np.uint8))
                    self._j._hash.update(mv)
                    written = 0
                    while written < len(mv):
                        written += os.write(fd, mv[written:])
                else:
                    os.fdatasync(fd)
                    with self._lock:
                        self._done = arg
                    self.sync_pending = False
            except OSError as exc:
                self._error = exc
                self.sync_pending = False
            finally:
                self._q.task_done()

    def stop(self) -> None:
        self._q.put(("stop", -1, None))
        self._thread.join()


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
        self._io = _IoThread(self) if background_io else None

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
                total += _body_count(tr_size, True, path)
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
        good = _check_records(body, first, epoch)
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
        header = _pack_header(epoch, self._index, first_seq, time.time_ns(), self._prev_hash)
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
        os.write(self._fd, _pack_trailer(self._seg_count, self._seg_first, last, self._prev_hash, seal_hash))
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
