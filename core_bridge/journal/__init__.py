"""The drop-copy journal: append-only, CRC'd, group-committed, hash-chained segment files.

Why: drop-copy events are books and records (17a-4). The journal must never lose what it reported as
durable, must show any later tampering, and must be cheap enough to keep up with the core (>1 M events/s).

    segment     the on-disk format: names, header, records + CRC32, seal trailer, hash chain, durable.json
    writer      `Journal`, the single writer: append, group commit, roll/seal, recovery on open
    background  the writer's helper thread (hash, write, fdatasync in FIFO order)
    reader      `iter_sealed_segments`, `read_segment`, `iter_records`: for loaders and tools, no lock
    verify      `verify`: every CRC, sequence, seal and chain link, listed in journal order
    seal        `seal_journal`: end-of-day seal from any process (asks a running capture if one holds it)

New code imports from those modules. The names below are re-exported so that `core_bridge.journal.X`, as
the archive flow and the docs use it, keeps working.
"""

from core_bridge.journal.reader import iter_records, iter_sealed_segments, read_segment
from core_bridge.journal.seal import seal_journal
from core_bridge.journal.segment import (
    DURABLE_FILE,
    HEADER_MAGIC,
    HEADER_SIZE,
    JOURNAL_DTYPE,
    JOURNAL_VERSION,
    SEAL_MAGIC,
    SEAL_REQUEST_FILE,
    STRIDE,
    TRAILER_SIZE,
    ZERO_HASH,
    SealTrailer,
    SegmentHeader,
    SegmentInfo,
    list_segments,
    parse_header,
    parse_trailer,
    read_durable,
    record_crcs,
    segment_name,
)
from core_bridge.journal.verify import VerifyProblem, VerifyReport, verify
from core_bridge.journal.writer import DEFAULT_COMMIT_MS, DEFAULT_COMMIT_RECORDS, DEFAULT_SEGMENT_BYTES, Journal

__all__ = [
    "DEFAULT_COMMIT_MS",
    "DEFAULT_COMMIT_RECORDS",
    "DEFAULT_SEGMENT_BYTES",
    "DURABLE_FILE",
    "HEADER_MAGIC",
    "HEADER_SIZE",
    "JOURNAL_DTYPE",
    "JOURNAL_VERSION",
    "SEAL_MAGIC",
    "SEAL_REQUEST_FILE",
    "STRIDE",
    "TRAILER_SIZE",
    "ZERO_HASH",
    "Journal",
    "SealTrailer",
    "SegmentHeader",
    "SegmentInfo",
    "VerifyProblem",
    "VerifyReport",
    "iter_records",
    "iter_sealed_segments",
    "list_segments",
    "parse_header",
    "parse_trailer",
    "read_durable",
    "read_segment",
    "record_crcs",
    "seal_journal",
    "segment_name",
    "verify",
]
