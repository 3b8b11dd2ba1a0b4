"""The twin's state-delta log over snapshots: replay, torn tails, damaged bodies, stale logs, compaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core_bridge.protocol import KillLevel, KillScope
from hw.errors import TwinStateError
from hw.twin import statestore as store_mod
from hw.twin.state import APPLIED_IDS_MAX, TwinState, provisioned_state
from hw.twin.statelog import LogCorrupt, frame_record, log_header, read_log
from hw.twin.statestore import LOG_FILE, STATE_FILE, close_state, decode_state, load_state, save_state


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "twin"
    yield d
    close_state(d)


def apply_kill(st: TwinState, n: int, level: KillLevel = KillLevel.HALTED) -> None:
    """What the engine does for one applied set_kill: bump the version, remember the id."""
    st.kill_firm = level
    st.state_version += 1
    st.remember(f"req-{n}", "set_kill", {"id": f"req-{n}", "ok": True, "code": "OK",
                                         "state_version": st.state_version, "result": {}})


def log_records(state_dir: Path) -> int:
    return len(read_log((state_dir / LOG_FILE).read_bytes()).records)


def records_end(state_dir: Path) -> int:
    return read_log((state_dir / LOG_FILE).read_bytes()).good_end


def write_after_records(state_dir: Path, data: bytes) -> None:
    """Write where the next record would go (over the log's preallocated zeros)."""
    end = records_end(state_dir)
    with (state_dir / LOG_FILE).open("r+b") as fh:
        fh.seek(end)
        fh.write(data)


def test_save_when_same_state_saved_again_then_one_log_record_and_snapshot_untouched(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    snap = (state_dir / STATE_FILE).read_bytes()
    apply_kill(st, 1)
    save_state(state_dir, st)
    assert (state_dir / STATE_FILE).read_bytes() == snap
    assert log_records(state_dir) == 1


def test_save_when_nothing_changed_then_no_record_written(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    save_state(state_dir, st)
    assert log_records(state_dir) == 0


def test_load_when_log_has_records_then_snapshot_plus_replay_equals_memory(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    for n in range(1, 6):
        apply_kill(st, n, KillLevel.REDUCE_ONLY if n % 2 else KillLevel.CANCEL_ONLY)
        st.kill[KillScope.SYMBOL][f"SYM{n}"] = KillLevel.HALTED
        st.limits[f"ACCT{n}"] = {"max_order_qty": 100 * n}
        save_state(state_dir, st)
    back = load_state(state_dir)
    assert back.to_json() == st.to_json()
    assert list(back.applied) == list(st.applied) == [f"req-{n}" for n in range(1, 6)]
    assert back.applied_reply("req-3") == st.applied_reply("req-3")


def test_load_when_ids_refreshed_and_evicted_then_lru_order_replayed_exactly(state_dir: Path) -> None:
    st = TwinState()
    save_state(state_dir, st)
    for n in range(APPLIED_IDS_MAX):
        apply_kill(st, n)
    save_state(state_dir, st)
    assert st.applied_reply("req-0") is not None  # a retry refreshes the oldest id
    apply_kill(st, APPLIED_IDS_MAX)  # evicts req-1, not req-0
    save_state(state_dir, st)
    back = load_state(state_dir)
    assert list(back.applied) == list(st.applied)
    assert "req-0" in back.applied and "req-1" not in back.applied


@pytest.mark.parametrize("cut", [1, 5, 9, 20])
@pytest.mark.parametrize("how", ["unwritten", "file_cut"])
def test_load_when_last_record_torn_then_dropped_and_file_truncated(state_dir: Path, cut: int, how: str) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    apply_kill(st, 1, KillLevel.CANCEL_ONLY)
    save_state(state_dir, st)
    good = records_end(state_dir)
    apply_kill(st, 2, KillLevel.HALTED)
    save_state(state_dir, st)
    end = records_end(state_dir)
    raw = (state_dir / LOG_FILE).read_bytes()
    if how == "unwritten":  # the crash left the last record's final bytes as the segment's zeros
        torn = raw[: end - cut] + bytes(len(raw) - end + cut)
    else:  # a log without preallocation, cut short mid-record
        torn = raw[: end - cut]
    (state_dir / LOG_FILE).write_bytes(torn)
    back = load_state(state_dir)
    assert back.kill_firm is KillLevel.CANCEL_ONLY and "req-1" in back.applied and "req-2" not in back.applied
    assert (state_dir / LOG_FILE).stat().st_size == good


def test_load_when_log_extended_with_zeros_then_records_kept(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    apply_kill(st, 1)
    save_state(state_dir, st)
    with (state_dir / LOG_FILE).open("ab") as fh:
        fh.write(b"\0" * 4096)
    assert load_state(state_dir).kill_firm is KillLevel.HALTED


def test_save_when_records_written_then_log_size_never_changes(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    size = (state_dir / LOG_FILE).stat().st_size
    for n in range(1, 20):
        apply_kill(st, n, KillLevel.CANCEL_ONLY if n % 2 else KillLevel.HALTED)
        save_state(state_dir, st)
    assert (state_dir / LOG_FILE).stat().st_size == size == store_mod.LOG_SEGMENT
    assert log_records(state_dir) == 19


def test_save_when_record_does_not_fit_in_segment_then_snapshot_and_fresh_log(
        state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "LOG_SEGMENT", 1024)
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    n = 0
    while log_records(state_dir) == n:  # fill the small segment until a save has to snapshot
        n += 1
        apply_kill(st, n, KillLevel.CANCEL_ONLY if n % 2 else KillLevel.HALTED)
        save_state(state_dir, st)
        assert n < 100
    assert log_records(state_dir) == 0 and n > 1
    assert load_state(state_dir).to_json() == st.to_json()


def test_load_when_log_body_damaged_then_state_error_and_log_kept_aside(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    apply_kill(st, 1)
    save_state(state_dir, st)
    apply_kill(st, 2)
    save_state(state_dir, st)
    path = state_dir / LOG_FILE
    raw = bytearray(path.read_bytes())
    first = len(log_header("0" * 16)) + 8  # first record's payload
    raw[first + 3] ^= 0x20
    path.write_bytes(bytes(raw))
    with pytest.raises(TwinStateError, match="record damaged at byte"):
        load_state(state_dir)
    assert not path.exists() and list(state_dir.glob(LOG_FILE + ".corrupt-*"))


def test_load_when_record_checksums_but_fields_unknown_then_state_error(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    write_after_records(state_dir, frame_record(b'{"set":{"bogus":1},"applied":[]}'))
    with pytest.raises(TwinStateError, match="record 1 invalid"):
        load_state(state_dir)


def test_load_when_log_names_another_snapshot_then_ignored(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    # A crash after a new snapshot's rename and before its fresh log's: the old log is still there.
    with (state_dir / LOG_FILE).open("wb") as fh:
        fh.write(log_header("ffffffffffffffff") + frame_record(b'{"set":{"epoch":99},"applied":[]}'))
    assert load_state(state_dir).epoch == st.epoch


def test_load_when_log_missing_after_snapshot_then_snapshot_alone(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    st.epoch = 3
    save_state(state_dir, st)
    (state_dir / LOG_FILE).unlink()
    assert load_state(state_dir).to_json() == st.to_json()


def test_save_when_records_reach_compaction_threshold_then_snapshot_and_fresh_log(
        state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "COMPACT_RECORDS", 3)
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    for n in range(1, 5):
        apply_kill(st, n, KillLevel.CANCEL_ONLY if n % 2 else KillLevel.HALTED)
        save_state(state_dir, st)
    assert log_records(state_dir) == 0  # the 4th save wrote a snapshot and started a new log
    assert decode_state((state_dir / STATE_FILE).read_bytes()).to_json() == st.to_json()
    assert load_state(state_dir).to_json() == st.to_json()
    assert not list(state_dir.glob("*.tmp"))


def test_save_when_new_state_object_or_snapshot_asked_then_full_snapshot(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    apply_kill(st, 1)
    save_state(state_dir, st, snapshot=True)
    assert log_records(state_dir) == 0
    other = load_state(state_dir)  # another object (a restart): never appended to a log it did not start
    other.kill[KillScope.VENUE]["ARCA"] = KillLevel.HALTED
    save_state(state_dir, other)
    assert log_records(state_dir) == 0
    assert load_state(state_dir).kill[KillScope.VENUE] == {"ARCA": KillLevel.HALTED}


def test_save_when_lru_journal_overflows_unsaved_then_next_save_snapshots(state_dir: Path) -> None:
    st = TwinState()
    save_state(state_dir, st)
    for n in range(5 * APPLIED_IDS_MAX):  # never saved in between: the journal gives up, memory stays right
        apply_kill(st, n)
    save_state(state_dir, st)
    assert log_records(state_dir) == 0
    assert list(load_state(state_dir).applied) == list(st.applied)


def test_load_when_reopened_by_a_new_process_then_appends_continue_after_snapshot(state_dir: Path) -> None:
    st = provisioned_state("2026-11-20")
    save_state(state_dir, st)
    apply_kill(st, 1)
    save_state(state_dir, st)
    close_state(state_dir)  # as if the process ended
    again = load_state(state_dir)
    save_state(state_dir, again)  # start: snapshot holding the replayed record
    apply_kill(again, 2, KillLevel.REDUCE_ONLY)
    save_state(state_dir, again)
    back = load_state(state_dir)
    assert back.kill_firm is KillLevel.REDUCE_ONLY and list(back.applied) == ["req-1", "req-2"]


@pytest.mark.parametrize(
    ("raw", "torn", "records"),
    [
        (b"", False, 0),
        (b"colo-ops-twin", True, 0),  # header cut while being created
        (log_header("0123456789abcdef"), False, 0),
        (log_header("0123456789abcdef") + frame_record(b"{}") + frame_record(b"[1]")[:-1], True, 1),
        (log_header("0123456789abcdef") + frame_record(b"{}") + b"\0" * 7, False, 1),  # preallocated zeros
        (log_header("0123456789abcdef") + frame_record(b"{}") + frame_record(b"[1]")[:-2] + b"\0" * 9, True, 1),
    ],
)
def test_read_log_table(raw: bytes, torn: bool, records: int) -> None:
    read = read_log(raw)
    assert (read.torn, len(read.records)) == (torn, records)


@pytest.mark.parametrize(
    "raw",
    [
        b"not a log at all\n",
        log_header("0123456789abcdef") + b"\xff\xff\xff\xff\0\0\0\0garbage",  # absurd length
        log_header("0123456789abcdef") + frame_record(b"{}")[:-1] + b"X" + frame_record(b"{}"),
    ],
)
def test_read_log_when_body_damaged_then_log_corrupt(raw: bytes) -> None:
    with pytest.raises(LogCorrupt):
        read_log(raw)
