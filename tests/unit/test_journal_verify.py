"""journal.verify names the first bad record or chain link exactly."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from core_bridge.journal.reader import iter_sealed_segments
from core_bridge.journal.segment import HEADER_SIZE, STRIDE
from core_bridge.journal.verify import verify
from core_bridge.journal.writer import Journal
from core_bridge.protocol import EVENT_SIZE
from tests.unit.test_journal_writer import events


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """Four sealed segments of 100 records (epoch 1 seq 1..400) and an active one (401..450)."""
    with Journal.open(tmp_path, segment_bytes=HEADER_SIZE + 100 * STRIDE) as j:
        j.append(events(1, 1, 450))
        j.commit()
    return tmp_path


def seg(journal: Path, index: int) -> Path:
    return next(journal.glob(f"{index:08d}-*"))


def test_verify_when_intact_then_ok(journal: Path) -> None:
    rep = verify(journal)
    assert rep.ok and rep.records == 450 and rep.sealed == 4 and rep.last == (1, 450)


@pytest.mark.parametrize("index,record", [(1, 0), (2, 37), (4, 99), (5, 49)])
def test_verify_when_byte_flipped_then_names_file_record_and_seq(journal: Path, index: int, record: int) -> None:
    path = seg(journal, index)
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + record * STRIDE + 40] ^= 0x01
    path.write_bytes(bytes(data))
    rep = verify(journal)
    first = rep.first_problem
    assert first is not None
    assert (first.kind, first.file, first.record, first.seq) == ("record_crc", path.name, record,
                                                                 (index - 1) * 100 + record + 1)
    if index < 5:
        assert any(p.kind == "seal_hash" and p.file == path.name for p in rep.problems)


def test_verify_when_record_edited_and_crc_fixed_then_seal_hash_breaks(journal: Path) -> None:
    path = seg(journal, 3)
    data = bytearray(path.read_bytes())
    off = HEADER_SIZE + 10 * STRIDE
    data[off + 60] ^= 0x40  # change the quantity
    data[off + EVENT_SIZE: off + STRIDE] = zlib.crc32(bytes(data[off: off + EVENT_SIZE])).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    rep = verify(journal)
    # The CRC no longer catches the edit; the seal does. The next link still chains to the recorded seal.
    assert [(p.kind, p.file) for p in rep.problems] == [("seal_hash", path.name)]


def test_verify_when_middle_segment_deleted_then_gap_and_chain_break_named(journal: Path) -> None:
    seg(journal, 2).unlink()
    rep = verify(journal)
    kinds = [(p.kind, p.file) for p in rep.problems]
    third = seg(journal, 3).name
    assert kinds == [("index_gap", third), ("chain", third), ("seq_gap", third)]
    assert rep.problems[2].seq == 101
    assert "segment(s) 2..2 missing" in rep.problems[0].message


def test_verify_when_first_segment_deleted_then_gap_named(journal: Path) -> None:
    seg(journal, 1).unlink()
    rep = verify(journal)
    assert rep.first_problem is not None and rep.first_problem.kind == "index_gap"
    assert rep.first_problem.file == seg(journal, 2).name


def test_verify_when_last_segments_deleted_then_durable_watermark_names_missing_tail(journal: Path) -> None:
    seg(journal, 5).unlink()
    rep = verify(journal)
    assert [p.kind for p in rep.problems] == ["tail"]
    assert rep.problems[0].seq == 450


def test_verify_when_sealed_segment_truncated_then_reported(journal: Path) -> None:
    path = seg(journal, 2)
    data = path.read_bytes()
    path.write_bytes(data[: HEADER_SIZE + 50 * STRIDE + 7])
    rep = verify(journal)
    assert rep.first_problem is not None
    assert (rep.first_problem.kind, rep.first_problem.file, rep.first_problem.record) == ("tail", path.name, 50)


def test_verify_when_header_damaged_then_reported_and_chain_continues(journal: Path) -> None:
    path = seg(journal, 2)
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF
    path.write_bytes(bytes(data))
    rep = verify(journal)
    assert rep.first_problem is not None and (rep.first_problem.kind, rep.first_problem.file) == ("header", path.name)


def test_iter_sealed_segments_when_listed_then_in_order_with_hashes(journal: Path) -> None:
    segs = list(iter_sealed_segments(journal))
    assert [(s.first_seq, s.last_seq, s.count) for s in segs] == [(1, 100, 100), (101, 200, 100),
                                                                   (201, 300, 100), (301, 400, 100)]
    assert len({s.seal_hash for s in segs}) == 4


def test_verify_when_active_tail_past_durable_is_torn_then_unsettled_not_damage(journal: Path) -> None:
    path = seg(journal, 5)
    with path.open("ab") as fh:
        fh.write(b"\x01" * (STRIDE + 40))  # a record beyond the watermark with a bad CRC, then a partial one
    rep = verify(journal)
    assert rep.ok, rep.problems
    assert rep.unsettled_bytes == STRIDE + 40 and rep.last == (1, 450)
