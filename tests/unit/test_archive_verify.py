"""Tamper detection: every kind of damage is found and named (object id or manifest line)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import orjson

from flows.archive.archive import Archive
from flows.archive.manifest import check_chain, entry_hash
from flows.archive.store import LocalArchiveStore
from flows.archive.verify import in_sample, verify_archive
from tests.unit.test_archive_store import make_archive, record

DATA = [b"alpha record", b"bravo record", b"charlie record"]


def three(tmp_path: Path) -> tuple[Archive, LocalArchiveStore, list[str]]:
    arc = make_archive(tmp_path)
    arc.archive([record(tmp_path, f"reports/2026-11-20/cat/f{i}.json.bz2", d) for i, d in enumerate(DATA)])
    store = arc.store
    assert isinstance(store, LocalArchiveStore)
    return arc, store, [hashlib.sha256(d).hexdigest() for d in DATA]


def flip_byte(path: Path, offset: int = 3) -> None:
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def checks(store: LocalArchiveStore) -> set[tuple[str, str, str | None, int | None]]:
    return {(f.check, f.copy, f.object_id, f.line) for f in verify_archive(store, full=True).findings}


def test_verify_when_untouched_then_ok_and_every_object_hashed_in_both_copies(tmp_path: Path) -> None:
    _arc, store, _ids = three(tmp_path)
    res = verify_archive(store, full=True)
    assert res.ok, res.findings
    assert res.objects_hashed == 3
    assert res.bytes_hashed == 2 * sum(len(d) for d in DATA)


def test_verify_when_byte_flipped_in_primary_object_then_corrupt_object_named(tmp_path: Path) -> None:
    _arc, store, ids = three(tmp_path)
    flip_byte(store.object_path(ids[1]))
    assert checks(store) == {("object_corrupt", "primary", ids[1], 2)}


def test_verify_when_object_deleted_then_missing_object_named(tmp_path: Path) -> None:
    _arc, store, ids = three(tmp_path)
    store.object_path(ids[2]).unlink()
    assert checks(store) == {("object_missing", "primary", ids[2], 3)}


def test_verify_when_duplicate_object_damaged_or_missing_then_named_in_duplicate(tmp_path: Path) -> None:
    _arc, store, ids = three(tmp_path)
    flip_byte(store.object_path(ids[0], "duplicate"))
    store.object_path(ids[1], "duplicate").unlink()
    assert checks(store) == {("object_corrupt", "duplicate", ids[0], 1), ("object_missing", "duplicate", ids[1], 2)}


def test_verify_when_manifest_lines_reordered_then_lines_named(tmp_path: Path) -> None:
    _arc, store, _ids = three(tmp_path)
    lines = store.manifest.path.read_bytes().splitlines(keepends=True)
    store.manifest.path.write_bytes(lines[0] + lines[2] + lines[1])
    found = [f for f in verify_archive(store, full=True).findings if f.check == "manifest_chain"]
    assert {f.line for f in found} == {2, 3}
    assert any("prev does not link" in f.message for f in found)
    dup = [f for f in verify_archive(store, full=True).findings if f.check == "duplicate_manifest"]
    assert [f.line for f in dup] == [2]


def test_verify_when_manifest_entry_edited_then_line_and_object_named(tmp_path: Path) -> None:
    _arc, store, ids = three(tmp_path)
    lines = store.manifest.path.read_bytes().splitlines(keepends=True)
    entry = orjson.loads(lines[1])
    entry["retain_until"] = "2026-11-21"  # an attempt to shorten retention
    lines[1] = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n"
    store.manifest.path.write_bytes(b"".join(lines))
    found = verify_archive(store, full=True).findings
    edited = [f for f in found if f.check == "manifest_chain"]
    assert [(f.line, f.object_id) for f in edited] == [(2, ids[1])]
    assert "edited" in edited[0].message


def test_verify_when_edit_is_rehashed_and_rechained_then_duplicate_manifest_names_the_line(tmp_path: Path) -> None:
    _arc, store, _ids = three(tmp_path)
    lines = [orjson.loads(x) for x in store.manifest.path.read_bytes().splitlines()]
    lines[1]["retain_until"] = "2026-11-21"
    prev = lines[0]["hash"]
    for e in lines[1:]:  # a careful forger recomputes the chain from the edit on
        e["prev"] = prev
        e["hash"] = entry_hash(e)
        prev = e["hash"]
    store.manifest.path.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) + b"\n" for e in lines))
    assert checks(store) == {("duplicate_manifest", "duplicate", None, 2)}


def test_verify_when_manifest_tail_truncated_then_primary_named_from_duplicate(tmp_path: Path) -> None:
    _arc, store, _ids = three(tmp_path)
    lines = store.manifest.path.read_bytes().splitlines(keepends=True)
    store.manifest.path.write_bytes(b"".join(lines[:2]))
    found = {(f.check, f.copy, f.line) for f in verify_archive(store, full=True).findings}
    assert ("duplicate_manifest", "primary", 3) in found


def test_verify_when_duplicate_manifest_missing_then_named(tmp_path: Path) -> None:
    _arc, store, _ids = three(tmp_path)
    assert store.manifest.duplicate is not None
    store.manifest.duplicate.unlink()
    found = verify_archive(store, full=True).findings
    assert [(f.check, f.copy) for f in found] == [("duplicate_manifest", "duplicate")]
    assert "missing" in found[0].message


def test_verify_when_stray_file_in_objects_then_named(tmp_path: Path) -> None:
    _arc, store, _ids = three(tmp_path)
    stray = hashlib.sha256(b"smuggled").hexdigest()
    p = store.object_path(stray)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"smuggled")
    assert checks(store) == {("stray_object", "primary", stray, None)}


def test_verify_when_sample_mode_then_new_and_todays_bucket_rehashed_and_deletion_still_found(tmp_path: Path) -> None:
    _arc, store, ids = three(tmp_path)
    store.object_path(ids[0]).unlink()
    day = dt.date(2026, 11, 22)
    res = verify_archive(store, full=False, rotation=7, new_ids=[ids[1]], day=day)
    assert {(f.check, f.object_id) for f in res.findings} == {("object_missing", ids[0])}
    expected = {ids[1]} | {i for i in ids if in_sample(i, day, 7)}
    assert res.objects_hashed == len(expected)
    covered = set().union(*({i for i in ids if in_sample(i, day + dt.timedelta(days=k), 7)} for k in range(7)))
    assert covered == set(ids)  # every object is re-hashed within one rotation


def test_check_chain_when_last_line_torn_or_not_json_then_named() -> None:
    e1 = {"event": "archive", "object_id": "a" * 64, "seq": 1, "prev": "0" * 64}
    e1["hash"] = entry_hash(e1)
    good = orjson.dumps(e1) + b"\n"
    assert check_chain(good) == []
    torn = [str(f) for f in check_chain(good + b'{"event": "arch')]
    assert any("line 2" in t and "torn" in t for t in torn)
    assert any("line 2" in t and "not a JSON object" in t for t in torn)


def test_hash_pair_when_duplicate_differs_after_first_chunk_or_is_longer_then_named(tmp_path: Path) -> None:
    from flows.archive.store import CHUNK

    arc = make_archive(tmp_path)
    big = bytes(range(256)) * (CHUNK // 256 + 1000)  # more than one read chunk
    arc.archive([record(tmp_path, "journal/x.seg", big, "journal_segment"),
                 record(tmp_path, "journal/y.seg", b"short", "journal_segment")])
    store = arc.store
    assert isinstance(store, LocalArchiveStore)
    oid, small = hashlib.sha256(big).hexdigest(), hashlib.sha256(b"short").hexdigest()
    assert store.hash_pair(oid) == (oid, oid)
    flip_byte(store.object_path(oid, "duplicate"), offset=CHUNK + 10)
    dup = store.object_path(small, "duplicate")
    os.chmod(dup, 0o644)
    dup.write_bytes(b"short+")
    assert checks(store) == {("object_corrupt", "duplicate", oid, 1), ("object_corrupt", "duplicate", small, 2),
                             ("size_mismatch", "duplicate", small, 2)}
