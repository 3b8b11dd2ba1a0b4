"""Reading the journal: what the ops-store loader, the archive and the corectl tools need, without the writer.

Why separate from the writer: readers run in other processes while a capture writes, so they take no lock
and must tolerate the active segment being mid-write past the durable watermark (and only there).

The API (the full check, `verify(journal_dir) -> VerifyReport`, is core_bridge.journal.verify)::

    iter_sealed_segments(journal_dir) -> Iterator[SegmentInfo]    sealed segments in journal order, from the
                                                                   file names and trailers (cheap; no body read)
    read_segment(path) -> np.ndarray[EVENT_DTYPE]                  all records of one segment (sealed or active),
                                                                   CRC-checked, contiguous copy; raises
                                                                   JournalCorruptError naming file + record
    iter_records(journal_dir, after=(epoch, seq)) -> Iterator[np.ndarray]   batches in journal order

A loader that is idempotent by sequence keeps (epoch, last_seq) per loaded segment; SegmentInfo carries
epoch, first_seq, last_seq, count, seal_hash and path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core_bridge.errors import JournalCorruptError
from core_bridge.journal.segment import (
    HEADER_SIZE,
    JOURNAL_DTYPE,
    TRAILER_SIZE,
    SegmentInfo,
    body_count,
    check_records,
    list_segments,
    parse_header,
    parse_trailer,
    read_durable,
)


def iter_sealed_segments(journal_dir: str | Path) -> Iterator[SegmentInfo]:
    """Sealed segments in journal order (by index), described from name and trailer; bodies are not read."""
    for index, epoch, first, sealed, path in list_segments(Path(journal_dir)):
        if not sealed:
            continue
        with path.open("rb") as fh:
            fh.seek(-TRAILER_SIZE, os.SEEK_END)
            tr = parse_trailer(fh.read(TRAILER_SIZE), path)
        yield SegmentInfo(path, index, epoch, first, tr.last_seq, tr.count, True, tr.seal_hash)


def read_segment(path: str | Path) -> np.ndarray:
    """Every record of one segment as a contiguous EVENT_DTYPE array, after checking each record's CRC and
    sequence. Raises JournalCorruptError naming the file and record index on any damage — except past the
    durable watermark of the active (.open) segment, where a running writer may be mid-write: there the
    good prefix is returned."""
    path = Path(path)
    raw = path.read_bytes()
    hdr = parse_header(raw[:HEADER_SIZE], path)
    sealed = path.suffix == ".seg"
    n = body_count(len(raw), sealed, path)
    body = np.frombuffer(raw, dtype=JOURNAL_DTYPE, count=n, offset=HEADER_SIZE)
    bad = check_records(body, hdr.first_seq, hdr.epoch)
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
