"""The ops-DB mirror of the archive (retention_items) on SQLite and PostgreSQL: upsert, holds, purges."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from sqlalchemy import select

from flows.archive.mirror import mirror_to_db
from flows.archive.purge import execute_purge, plan_purge
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import RetentionItem
from tests.unit.test_archive_store import Clock, make_archive, record


def rows(url: str) -> dict[str, RetentionItem]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return {r.object_id: r for r in s.scalars(select(RetentionItem))}
    finally:
        engine.dispose()


def test_mirror_when_archived_held_and_purged_then_table_follows_manifest(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    clock = Clock()
    arc = make_archive(tmp_path, clock)
    arc.archive([
        record(tmp_path, "reports/2026-11-20/cat/a.json.bz2", b"A"),
        record(tmp_path, "inbox/20261120/sod_positions_20261120.txt", b"B", "sod_positions"),
    ])
    a, b = hashlib.sha256(b"A").hexdigest(), hashlib.sha256(b"B").hexdigest()
    arc.place_hold([b], "legal", "hold B")
    assert mirror_to_db(arc.state(), db_url).startswith("mirrored 2")
    assert mirror_to_db(arc.state(), db_url).startswith("mirrored 2")  # idempotent
    got = rows(db_url)
    assert got[a].retain_until == dt.date(2029, 11, 20) and got[a].record_class == "communications"
    assert got[b].hold and got[b].retain_until == dt.date(2032, 11, 20)

    clock.jump_days(4 * 365)
    execute_purge(arc, plan_purge(arc.state(), clock()))
    assert "removed 1 purged" in mirror_to_db(arc.state(), db_url)
    assert set(rows(db_url)) == {b}


def test_mirror_when_table_absent_then_says_so_and_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    make_engine(sqlite_url).dispose()
    Path(sqlite_url.removeprefix("sqlite:///")).touch()
    arc = make_archive(tmp_path)
    assert "absent" in mirror_to_db(arc.state(), sqlite_url)
