"""The chaos run's comparison of two days' outputs (flows/reliability/compare.py), on real journals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core_bridge.journal.writer import Journal
from core_bridge.protocol import EventFlag, EventType
from flows.reliability import compare
from hw.twin.stream import SyntheticStream


def _journal(path: Path, recs: np.ndarray) -> Path:
    with Journal.open(path) as j:
        j.append(recs)
        j.commit()
    return path


def _records(n: int = 40) -> np.ndarray:
    return SyntheticStream(1).batch(1, n, 1_763_650_000_000_000_000)


def test_compare_journals_when_only_replay_flags_differ_then_identical(tmp_path: Path) -> None:
    a = _records()
    b = a.copy()
    b["flags"][5:9] |= np.uint8(EventFlag.REPLAY)  # what the capture got by rewind after a restart
    diffs, facts = compare.compare_journals(_journal(tmp_path / "a", a), _journal(tmp_path / "b", b))
    assert diffs == [] and facts["trading_records"] == [40, 40]


def test_compare_journals_when_a_record_differs_or_is_missing_then_named(tmp_path: Path) -> None:
    a = _records()
    b = a.copy()
    b["last_qty"][7] += 1
    diffs, _ = compare.compare_journals(_journal(tmp_path / "a", a), _journal(tmp_path / "b", b))
    assert len(diffs) == 1 and "record 7 (seq 8" in diffs[0].detail
    diffs, _ = compare.compare_journals(tmp_path / "a", _journal(tmp_path / "c", a[:39]))
    assert diffs and "40 trading records without faults, 39 with" in diffs[0].detail


def test_compare_journals_when_role_changes_then_counted_not_compared(tmp_path: Path) -> None:
    a = _records()
    b = a.copy()
    b["etype"][-1] = int(EventType.ROLE_CHANGED)  # a takeover's record
    diffs, facts = compare.compare_journals(_journal(tmp_path / "a", a[:39]), _journal(tmp_path / "b", b))
    assert diffs == [] and facts["other_records"] == [{}, {"ROLE_CHANGED": 1}]


def test_compare_digests_when_files_differ_then_each_named(tmp_path: Path) -> None:
    for side, text in (("a", "x"), ("b", "y")):
        root = tmp_path / side / "cat"
        (root / ".work" / "run-1").mkdir(parents=True)
        (root / ".work" / "run-1" / "scratch").write_text(side)  # scratch space: never compared
        (root / "f.bz2").write_text(text)
        (root / f"only-{side}.meta").write_text("m")
    da, db = compare.digests([tmp_path / "a" / "cat"]), compare.digests([tmp_path / "b" / "cat"])
    details = sorted(d.detail for d in compare.compare_digests(da, db))
    assert details == ["cat/f.bz2: contents differ", "cat/only-a.meta: only in the run without faults",
                       "cat/only-b.meta: only in the run with faults"]


def test_compare_tables_when_only_volatile_columns_differ_then_identical() -> None:
    a = {"recon_breaks": [{"break_id": "B1", "run_id": 1, "status": "OPEN"}]}
    b = {"recon_breaks": [{"break_id": "B1", "run_id": 7, "status": "OPEN"}]}
    assert compare.compare_tables(a, b) == []
    b["recon_breaks"][0]["status"] = "RESOLVED"
    (d,) = compare.compare_tables(a, b)
    assert d.what == "store" and d.detail.startswith("recon_breaks: 1 vs 1 rows, 1 only without faults")
