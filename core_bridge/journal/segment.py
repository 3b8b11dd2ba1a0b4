"""The journal's on-disk format: segment names, header, records, seal trailer, CRCs and the hash chain.

Why one module: every part of the journal (writer, reader, verify, the archive) must agree byte for byte on
what a segment is, and a format change must be one diff. All integers are little-endian.

A journal is one directory. Segment files are numbered by a journal-wide, gapless segment *index*::

    <index:08d>-<epoch:010d>-<first_seq:016d>.open   the one active (unsealed) segment, at most one, last
    <index:08d>-<epoch:010d>-<first_seq:016d>.seg    sealed segments (immutable once sealed)
    durable.json                                      watermark hint for observers (written by writer.py)

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

The durable watermark hint `durable.json` ({epoch, seq, records, updated_ns}) is written by the writer and
read here (`read_durable`): observers and recovery use it, nothing trusts it blindly.
"""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core_bridge.errors import JournalCorruptError
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


def pack_header(epoch: int, index: int, first_seq: int, created_ns: int, prev_hash: bytes) -> bytes:
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


def pack_trailer(count: int, first_seq: int, last_seq: int, prev_hash: bytes, seal_hash: bytes) -> bytes:
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


def body_count(size: int, sealed: bool, path: Path) -> int:
    body = size - HEADER_SIZE - (TRAILER_SIZE if sealed else 0)
    if body < 0 or (sealed and body % STRIDE):
        raise JournalCorruptError(f"segment size {size} is not header + whole records + trailer", path)
    return body // STRIDE


def check_records(body: np.ndarray, first_seq: int, epoch: int) -> int:
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


def read_durable(journal_dir: str | Path) -> dict[str, int] | None:
    """The durable watermark hint {epoch, seq, records, updated_ns}, or None if never written."""
    try:
        return dict(json.loads((Path(journal_dir) / DURABLE_FILE).read_text()))
    except (FileNotFoundError, ValueError):
        return None
