"""Write-once, content-addressed store: no-op re-writes, refused overwrites, read-only objects, two copies."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from pathlib import Path

import pytest

from flows.archive.archive import Archive, ArchiveRequest
from flows.archive.policy import load_policy
from flows.archive.store import LocalArchiveStore
from flows.errors import ArchiveError

T0 = 1_795_000_000_000_000_000  # 2026-11-18 UTC, in ns


class Clock:
    """An injectable UTC-ns clock the tests move by hand."""

    def __init__(self, ns: int = T0) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns

    def jump_days(self, days: int) -> None:
        self.ns += days * 86_400 * 1_000_000_000


def make_archive(tmp_path: Path, clock: Clock | None = None) -> Archive:
    store = LocalArchiveStore(tmp_path / "archive", tmp_path / "archive-dup")
    return Archive(store, load_policy(), clock or Clock(), scan_cache=tmp_path / "archive" / "scan-cache.json")


def record(tmp_path: Path, rel: str, data: bytes, kind: str = "cat_file", day: str = "2026-11-20") -> ArchiveRequest:
    path = tmp_path / "home" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ArchiveRequest(path, rel, kind, dt.date.fromisoformat(day))


def test_archive_when_same_content_and_source_twice_then_one_object_and_one_entry(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    req = record(tmp_path, "reports/2026-11-20/cat/a.json.bz2", b"events")
    first = arc.archive([req])
    (tmp_path / "archive" / "scan-cache.json").unlink()  # force a re-hash: the manifest alone must dedupe
    second = arc.archive([req])
    assert first[0].new_object and first[0].new_entry
    assert not second[0].new_object and not second[0].new_entry
    assert len(arc.entries()) == 1
    assert list(arc.store.list_objects()) == [hashlib.sha256(b"events").hexdigest()]


def test_archive_when_same_content_from_another_source_then_new_entry_but_no_new_object(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    a = record(tmp_path, "inbox/20261120/etb_20261120.txt", b"same", "borrow_list")
    b = record(tmp_path, "quarantine/etb_20261120.txt", b"same", "borrow_list")
    out = arc.archive([a, b])
    assert [o.new_entry for o in out] == [True, True]
    assert [o.new_object for o in out] == [True, False]
    assert len(list(arc.store.list_objects())) == 1


def test_write_object_when_id_exists_then_refused_and_bytes_unchanged(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    arc.archive([record(tmp_path, "audit/control.jsonl", b"original", "control_audit")])
    oid = hashlib.sha256(b"original").hexdigest()
    with pytest.raises(ArchiveError, match="refusing to replace"):
        arc.store.write_object(oid, b"original")
    with pytest.raises(ArchiveError, match="refusing to replace"):
        arc.store.write_object(oid, b"tampered")
    assert arc.store.hash_object(oid) == oid and arc.store.hash_object(oid, "duplicate") == oid


def test_write_object_when_bytes_do_not_hash_to_id_then_refused(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    with pytest.raises(ArchiveError, match="refusing to store"):
        arc.store.write_object(hashlib.sha256(b"a").hexdigest(), b"b")
    assert list(arc.store.list_objects()) == []


def test_put_when_stored_then_both_copies_are_read_only(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    arc.archive([record(tmp_path, "reports/2026-11-20/ops-report.html", b"<html/>", "daily_report")])
    oid = hashlib.sha256(b"<html/>").hexdigest()
    store = arc.store
    assert isinstance(store, LocalArchiveStore)
    for copy in ("primary", "duplicate"):
        assert stat.S_IMODE(store.object_path(oid, copy).stat().st_mode) == 0o444  # type: ignore[arg-type]


def test_store_when_duplicate_is_the_primary_location_then_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="separate location"):
        LocalArchiveStore(tmp_path / "a", tmp_path / "a")


def test_resolve_when_prefix_is_ambiguous_or_short_then_error_names_it(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    arc.archive([record(tmp_path, "audit/x", b"x", "control_audit")])
    oid = hashlib.sha256(b"x").hexdigest()
    assert arc.resolve(oid[:10]) == oid
    with pytest.raises(ArchiveError, match="too short"):
        arc.resolve(oid[:4])
    with pytest.raises(ArchiveError, match="matches 0"):
        arc.resolve("f" * 12 if not oid.startswith("f" * 12) else "0" * 12)


def test_archive_when_kind_unknown_then_error_names_kind_and_nothing_written(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    with pytest.raises(KeyError, match="no_such_kind"):
        arc.archive([record(tmp_path, "a/b", b"ok", "cat_file"), record(tmp_path, "x/y", b"y", "no_such_kind")])
    assert arc.entries() == [] and list(arc.store.list_objects()) == []


def test_archive_when_retain_until_computed_then_business_date_plus_class_years(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    arc.archive([
        record(tmp_path, "journal/00000001-0000000001-0000000000000001.seg", b"seg", "journal_segment"),
        record(tmp_path, "inbox/20261120/sod_positions_20261120.txt", b"sod", "sod_positions"),
    ])
    by_kind = {e["record_kind"]: e for e in arc.entries()}
    assert by_kind["journal_segment"]["retain_until"] == "2029-11-20"
    assert by_kind["journal_segment"]["rule"] == "17a-4(b)(1)"
    assert by_kind["sod_positions"]["retain_until"] == "2032-11-20"
    assert by_kind["sod_positions"]["rule"] == "17a-4(a)"


def test_archive_when_file_vanished_before_archiving_then_reported_not_raised(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    gone = record(tmp_path, "inbox/20261120/balances_20261120.csv", b"b", "balances")
    gone.path.unlink()
    out = arc.archive([gone, record(tmp_path, "audit/a", b"a", "control_audit")])
    assert [(o.vanished, o.new_entry) for o in out] == [(True, False), (False, True)]
    assert len(arc.entries()) == 1


def test_append_when_manifest_tail_torn_then_refused_naming_manifest(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    arc.archive([record(tmp_path, "audit/a", b"a", "control_audit")])
    with arc.store.manifest.path.open("ab") as fh:
        fh.write(b'{"event": "arch')
    with pytest.raises(ArchiveError, match="manifest line is unreadable"):
        arc.archive([record(tmp_path, "audit/b", b"b", "control_audit")])
