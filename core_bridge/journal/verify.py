"""The full check of a journal directory (`corectl journal verify`, the end-of-day flow before loading).

Why it is not the reader: the reader stops at the first damage it must not hand out; verify reads everything
and lists every problem in journal order (record CRC and sequence, header, seal hash, chain link, index and
sequence gaps, records missing below the durable watermark), so an operator sees the first damaged place
and its extent. Records past the watermark of the active segment count as unsettled, not damaged.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core_bridge.errors import JournalCorruptError
from core_bridge.journal.segment import (
    DURABLE_FILE,
    HEADER_SIZE,
    JOURNAL_DTYPE,
    STRIDE,
    TRAILER_SIZE,
    ZERO_HASH,
    check_records,
    list_segments,
    parse_header,
    parse_trailer,
    read_durable,
)
from core_bridge.protocol import EVENT_SIZE


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
        bad = check_records(body, first, epoch)
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
