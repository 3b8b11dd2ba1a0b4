"""Journal writer: append, group commit, segment roll, seal chain, recovery of a torn tail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from core_bridge.errors import JournalCorruptError, JournalError
from core_bridge.journal.reader import iter_records, iter_sealed_segments, read_segment
from core_bridge.journal.segment import DURABLE_FILE, HEADER_SIZE, STRIDE, read_durable
from core_bridge.journal.verify import verify
from core_bridge.journal.writer import Journal
from core_bridge.protocol import EVENT_DTYPE, EventType


def events(epoch: int, first: int, n: int) -> np.ndarray:
    recs = np.zeros(n, dtype=EVENT_DTYPE)
    recs["seq"] = np.arange(first, first + n, dtype=np.uint64)
    recs["epoch"] = epoch
    recs["etype"] = EventType.ORDER_NEW
    recs["ts_ns"] = 1_763_800_000_000_000_000 + recs["seq"].astype(np.int64)
    recs["account"] = b"ACC1"
    recs["symbol"] = b"AAPL"
    recs["qty"] = 100
    return recs


def all_records(jdir: Path) -> np.ndarray:
    parts = list(iter_records(jdir))
    return np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)


def test_append_when_reopened_then_records_and_position_survive(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as j:
        j.append(events(1, 1, 10))
        j.append(events(1, 11, 5))
        j.commit()
        assert j.durable == (1, 15)
    with Journal.open(tmp_path) as j:
        assert j.position == (1, 15)
        j.append(events(1, 16, 1))
    got = all_records(tmp_path)
    assert got["seq"].tolist() == list(range(1, 17))
    assert verify(tmp_path).ok


def test_append_when_sequence_not_contiguous_then_refused(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as j:
        j.append(events(1, 1, 3))
        with pytest.raises(JournalError, match="not contiguous"):
            j.append(events(1, 5, 1))
        with pytest.raises(JournalError, match="not contiguous"):
            j.append(events(1, 3, 1))
        j.append(events(2, 1, 2))
        with pytest.raises(JournalError, match="epoch 1 after epoch 2"):
            j.append(events(1, 4, 1))


def test_append_when_segment_full_then_rolls_and_chains_seals(tmp_path: Path) -> None:
    seg_bytes = HEADER_SIZE + 100 * STRIDE
    with Journal.open(tmp_path, segment_bytes=seg_bytes) as j:
        j.append(events(1, 1, 250))
        j.append(events(2, 1, 30))
        j.seal()
    sealed = list(iter_sealed_segments(tmp_path))
    assert [(s.epoch, s.first_seq, s.last_seq) for s in sealed] == [
        (1, 1, 100), (1, 101, 200), (1, 201, 250), (2, 1, 30)]
    assert [s.index for s in sealed] == [1, 2, 3, 4]
    rep = verify(tmp_path)
    assert rep.ok, rep.problems
    assert rep.records == 280 and rep.sealed == 4 and rep.last == (2, 30)
    assert read_segment(sealed[1].path)["seq"][0] == 101


def test_maybe_commit_when_count_or_age_reached_then_fsyncs(tmp_path: Path) -> None:
    with Journal.open(tmp_path, commit_records=100, commit_ms=5.0) as j:
        j.append(events(1, 1, 10))
        t0 = j._pending_since
        assert not j.maybe_commit(t0 + 1_000_000)
        assert j.durable == (0, 0)
        assert j.maybe_commit(t0 + 5_000_000)
        assert j.durable == (1, 10)
        j.append(events(1, 11, 100))
        assert j.maybe_commit(j._pending_since)
        assert j.durable == (1, 110)
        assert read_durable(tmp_path) == {**read_durable(tmp_path), "epoch": 1, "seq": 110, "records": 110}


def test_open_when_last_record_torn_then_truncated_and_resumes(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as j:
        j.append(events(1, 1, 20))
        j.commit()
    (active,) = list(tmp_path.glob("*.open"))
    good = events(1, 21, 1).tobytes()
    with active.open("ab") as fh:
        fh.write(good + b"\x01\x02\x03\x04" + good[:50])  # one record with a wrong CRC, then a torn one
    with Journal.open(tmp_path) as j:
        assert j.position == (1, 20)
        assert j.truncated_records == 2
        j.append(events(1, 21, 5))
    assert active.stat().st_size == HEADER_SIZE + 25 * STRIDE
    assert verify(tmp_path).ok


def test_open_when_damage_below_durable_watermark_then_refuses(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as j:
        j.append(events(1, 1, 20))
        j.commit()
    (active,) = list(tmp_path.glob("*.open"))
    with active.open("r+b") as fh:
        fh.seek(HEADER_SIZE + 5 * STRIDE + 17)
        fh.write(b"\xff")
    with pytest.raises(JournalCorruptError, match="durable watermark") as exc:
        Journal.open(tmp_path)
    assert exc.value.record == 5


def test_open_when_only_header_written_then_segment_discarded(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as j:
        j.append(events(1, 1, 3))
        j.seal()
    (tmp_path / "00000002-0000000002-0000000000000001.open").write_bytes(b"COJ")
    with Journal.open(tmp_path) as j:
        assert j.position == (1, 3)
        j.append(events(2, 1, 2))
    assert verify(tmp_path).ok


def test_open_when_another_writer_holds_it_then_refused(tmp_path: Path) -> None:
    with Journal.open(tmp_path), pytest.raises(JournalError, match="another process"):
        Journal.open(tmp_path)


def test_durable_file_when_committed_then_never_ahead_of_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    seq = 0
    with Journal.open(tmp_path, segment_bytes=HEADER_SIZE + 64 * STRIDE) as j:
        for _ in range(40):
            n = int(rng.integers(1, 30))
            j.append(events(1, seq + 1, n))
            seq += n
            if rng.random() < 0.5:
                j.commit()
            durable = json.loads((tmp_path / DURABLE_FILE).read_text())
            assert durable["seq"] <= seq
            assert durable["seq"] == j.durable[1]
    assert all_records(tmp_path)["seq"].tolist() == list(range(1, seq + 1))
    assert os.path.exists(tmp_path / DURABLE_FILE)


def test_maybe_commit_when_background_io_then_durable_follows_and_never_leads(tmp_path: Path) -> None:
    seq = 0
    with Journal.open(tmp_path, commit_records=50, background_io=True,
                      segment_bytes=HEADER_SIZE + 300 * STRIDE) as j:
        for _ in range(60):
            j.append(events(1, seq + 1, 20))
            seq += 20
            j.maybe_commit()
            assert j.durable[1] <= seq
            assert read_durable(tmp_path)["seq"] == j.durable[1]  # type: ignore[index]
        deadline = 200
        while j.durable[1] < seq and deadline:
            j.maybe_commit(j._pending_since + j.commit_ns)
            j._io.drain()  # type: ignore[union-attr]
            deadline -= 1
        assert j.durable == (1, seq)
    assert verify(tmp_path).ok
    assert all_records(tmp_path)["seq"].tolist() == list(range(1, seq + 1))


@pytest.mark.parametrize("after", [None, (1, 0), (1, 99), (1, 100), (1, 101), (1, 250), (2, 3), (2, 30), (3, 0)])
def test_iter_records_when_after_given_then_exactly_the_later_records(tmp_path: Path, after: tuple[int, int]) -> None:
    with Journal.open(tmp_path, segment_bytes=HEADER_SIZE + 100 * STRIDE) as j:
        j.append(events(1, 1, 250))
        j.append(events(2, 1, 30))
    everything = [(1, s) for s in range(1, 251)] + [(2, s) for s in range(1, 31)]
    want = [k for k in everything if after is None or k > after]
    got = [(int(e), int(s)) for r in iter_records(tmp_path, after) for e, s in zip(r["epoch"], r["seq"], strict=True)]
    assert got == want


def test_read_segment_when_active_tail_past_durable_is_partial_then_good_prefix(tmp_path: Path) -> None:
    with Journal.open(tmp_path) as j:
        j.append(events(1, 1, 20))
        j.commit()
        j.append(events(1, 21, 5))  # written, not yet durable
        (active,) = list(tmp_path.glob("*.open"))
        with active.open("ab") as fh:
            fh.write(events(1, 26, 1).tobytes()[:60])  # a write in progress
        with active.open("r+b") as fh:  # and a not-yet-durable record that is still being written
            fh.seek(HEADER_SIZE + 22 * STRIDE + 3)
            fh.write(b"\xff")
        assert read_segment(active)["seq"].tolist() == list(range(1, 23))
        with active.open("r+b") as fh:  # damage below the watermark is damage
            fh.seek(HEADER_SIZE + 3 * STRIDE + 3)
            fh.write(b"\xee")
        with pytest.raises(JournalCorruptError) as exc:
            read_segment(active)
        assert exc.value.record == 3
