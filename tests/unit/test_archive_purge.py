"""Safe purge: only past retain-until, never on hold, attested with hashes, and no resurrection."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from core_bridge.settings import load_settings
from flows.archive import open_archive
from flows.archive.purge import execute_purge, finish_interrupted_purges, plan_purge
from flows.archive.run import run_retention
from flows.archive.verify import verify_archive
from flows.dates import ny_time_ns
from flows.errors import ArchiveError
from tests.unit.test_archive_store import Clock, make_archive, record

NS_PER_DAY = 86_400 * 1_000_000_000


def ny_noon_ns(day: dt.date) -> int:
    return ny_time_ns(day, 12)


def test_plan_when_on_retain_until_day_then_kept_and_next_day_eligible(tmp_path: Path) -> None:
    clock = Clock()
    arc = make_archive(tmp_path, clock)
    arc.archive([record(tmp_path, "reports/2026-11-20/cat/a.json.bz2", b"cat", day="2026-11-20")])  # 3 y
    assert plan_purge(arc.state(), ny_noon_ns(dt.date(2029, 11, 20))).eligible == []
    late = plan_purge(arc.state(), ny_noon_ns(dt.date(2029, 11, 21)))
    assert [i.object_id for i in late.eligible] == [hashlib.sha256(b"cat").hexdigest()]


def test_purge_when_held_past_date_then_kept_until_released(tmp_path: Path) -> None:
    clock = Clock()
    arc = make_archive(tmp_path, clock)
    arc.archive([
        record(tmp_path, "reports/2026-11-20/cat/held.json.bz2", b"held"),
        record(tmp_path, "reports/2026-11-20/cat/free.json.bz2", b"free"),
    ])
    held, free = hashlib.sha256(b"held").hexdigest(), hashlib.sha256(b"free").hexdigest()
    [hold] = arc.place_hold([held[:12]], "compliance.jdoe", "FINRA matter 2026-0042")
    clock.ns = ny_noon_ns(dt.date(2033, 1, 2))
    plan = plan_purge(arc.state(), clock())
    assert [i.object_id for i in plan.eligible] == [free]
    assert [(i.object_id, i.holds) for i in plan.held] == [(held, (hold["hold_id"],))]
    purged = execute_purge(arc, plan)
    assert [p.sha256 for p in purged] == [free]
    assert arc.store.exists(held) and arc.store.exists(held, "duplicate")
    assert not arc.store.exists(free) and not arc.store.exists(free, "duplicate")
    assert verify_archive(arc.store).ok

    arc.release_hold(hold["hold_id"], "compliance.jdoe", "matter closed")
    assert [p.object_id for p in execute_purge(arc, plan_purge(arc.state(), clock()))] == [held]
    events = [(e["event"], e["object_id"]) for e in arc.entries()]
    assert events[-4:] == [("hold", held), ("purge", free), ("release", held), ("purge", held)]
    assert verify_archive(arc.store).ok


def test_execute_when_hold_placed_after_plan_then_hold_wins(tmp_path: Path) -> None:
    clock = Clock()
    arc = make_archive(tmp_path, clock)
    arc.archive([record(tmp_path, "reports/2026-11-20/cat/a.json.bz2", b"late hold")])
    clock.ns = ny_noon_ns(dt.date(2031, 1, 1))
    plan = plan_purge(arc.state(), clock())
    assert len(plan.eligible) == 1
    arc.place_hold([plan.eligible[0].object_id], "legal", "preservation notice")
    assert execute_purge(arc, plan) == []
    assert arc.store.exists(plan.eligible[0].object_id)


def test_hold_when_no_who_or_why_then_refused(tmp_path: Path) -> None:
    arc = make_archive(tmp_path)
    arc.archive([record(tmp_path, "audit/a", b"a", "control_audit")])
    oid = hashlib.sha256(b"a").hexdigest()
    with pytest.raises(ArchiveError, match="who"):
        arc.place_hold([oid], "ops", " ")
    with pytest.raises(ArchiveError, match="no active hold"):
        arc.release_hold(oid, "ops", "nothing to release")


def test_archive_when_purged_source_file_still_present_then_not_archived_again(tmp_path: Path) -> None:
    clock = Clock()
    arc = make_archive(tmp_path, clock)
    req = record(tmp_path, "reports/2026-11-20/cat/a.json.bz2", b"old")
    arc.archive([req])
    clock.ns = ny_noon_ns(dt.date(2031, 1, 1))
    execute_purge(arc, plan_purge(arc.state(), clock()))
    (tmp_path / "archive" / "scan-cache.json").unlink()
    again = arc.archive([req])
    assert not again[0].new_entry
    assert not arc.store.exists(again[0].object_id)


def test_finish_when_purge_entry_written_but_files_left_then_verify_names_and_finish_removes(tmp_path: Path) -> None:
    clock = Clock()
    arc = make_archive(tmp_path, clock)
    arc.archive([record(tmp_path, "reports/2026-11-20/cat/a.json.bz2", b"crash")])
    oid = hashlib.sha256(b"crash").hexdigest()
    clock.ns = ny_noon_ns(dt.date(2031, 1, 1))
    with arc.store.manifest.locked():  # simulate a crash right after the purge entry was written
        arc.store.manifest.append([{"event": "purge", "ts_ns": clock(), "object_id": oid, "sha256": oid,
                                    "actor": "retention", "reason": "test"}])
    assert {f.check for f in verify_archive(arc.store).findings} == {"purged_present"}
    assert finish_interrupted_purges(arc) == [oid]
    assert verify_archive(arc.store).ok


def write_home(home: Path) -> None:
    files = {
        "reports/2019-03-01/cat/X_Y_20190301_OrderEvents_000001.json.bz2": b"old cat file",
        "reports/2019-03-01/recon/recon.html": b"old recon held",
        "reports/2026-11-20/cat/X_Y_20261120_OrderEvents_000001.json.bz2": b"new cat file",
    }
    for rel, data in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_run_retention_when_expired_and_held_then_expired_purged_and_attested_with_hash(ops_home: Path) -> None:
    write_home(ops_home)
    settings = load_settings()
    clock = Clock(ny_noon_ns(dt.date(2026, 11, 22)))
    arc = open_archive(settings, clock)
    first = run_retention(arc, settings, dt.date(2026, 11, 22), dry_run=True)
    assert first["archived"] == 3 and first["verified"]
    old_cat, old_recon = hashlib.sha256(b"old cat file").hexdigest(), hashlib.sha256(b"old recon held").hexdigest()
    assert first["purge_eligible"] == 2 and first["purged"] == []  # dry run: planned and recorded only
    arc.place_hold([old_recon], "legal", "litigation hold 2026-7")

    second = run_retention(arc, settings, dt.date(2026, 11, 22))
    assert second["archived"] == 0  # nothing archived twice (its own first attestation was archived by run 1)
    assert second["purged"] == [{"object_id": old_cat, "sha256": old_cat}]
    assert second["purge_held"] == 1
    att = json.loads(Path(second["attestation"][0]).read_text())
    assert [p["sha256"] for p in att["purged"]] == [old_cat]
    assert att["purge_dry_run"]["held"][0]["object_id"] == old_recon
    assert att["verification"]["ok"] is True
    html = Path(second["attestation"][1]).read_text()
    assert old_cat in html and "VERIFIED" in html
    assert arc.store.exists(old_recon) and not arc.store.exists(old_cat)
    srcs = {e["source"] for e in arc.entries() if e["event"] == "archive"}
    assert {str(Path(p).relative_to(ops_home)) for p in first["attestation"] + second["attestation"]} <= srcs


def test_run_retention_when_archive_damaged_then_nothing_purged_and_finding_attested(ops_home: Path) -> None:
    write_home(ops_home)
    settings = load_settings()
    arc = open_archive(settings, Clock(ny_noon_ns(dt.date(2026, 11, 22))))
    run_retention(arc, settings, dt.date(2026, 11, 22), dry_run=True)
    victim = hashlib.sha256(b"new cat file").hexdigest()
    arc.store.remove(victim)  # an object disappears behind the archive's back
    out = run_retention(arc, settings, dt.date(2026, 11, 22), full_verify=True)
    assert not out["verified"] and out["purged"] == [] and out["purge_eligible"] == 2
    assert any(victim in f and "object_missing" in f for f in out["findings"])
