"""The `retention` Prefect flow end to end under the session harness: archive, no duplicates on re-run,
purge past the date except what is held, mirror into the ops DB, and fail loudly on tampering."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from sqlalchemy import select

from core_bridge.settings import load_settings
from flows.archive import open_archive
from flows.dates import ny_time_ns
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import RetentionItem

FILES = {
    "reports/2026-11-20/cat/F_I_20261120_OrderEvents_000001.json.bz2": b"cat 1120",
    "reports/2026-11-20/recon/recon.html": b"<html>recon</html>",
    "inbox/20261120/sod_positions_20261120.txt": b"BOF 20261120\nEOF 0\n",
    "audit/control-2026-11-20.jsonl": b'{"cmd":"kill"}\n',
}


def ny_ns(day: dt.date, hour: int = 2) -> int:
    return ny_time_ns(day, hour)


def test_retention_flow_when_run_repeatedly_then_archives_once_purges_unheld_and_fails_on_tamper(
    prefect_harness: None, ops_home: Path
) -> None:
    from flows.jobs.retention import retention

    for rel, data in FILES.items():
        (ops_home / rel).parent.mkdir(parents=True, exist_ok=True)
        (ops_home / rel).write_bytes(data)
    settings = load_settings()
    upgrade(settings.db_url)

    first = retention(date="2026-11-22", now_ns=ny_ns(dt.date(2026, 11, 22)))
    assert first["archived"] == 4 and first["verified"] and first["purged"] == []
    assert first["mirror"].startswith("mirrored")
    again = retention(date="2026-11-22", now_ns=ny_ns(dt.date(2026, 11, 22), 3))
    assert again["archived"] == 0 and again["new_objects"] == 0

    recon = hashlib.sha256(FILES["reports/2026-11-20/recon/recon.html"]).hexdigest()
    cat = hashlib.sha256(FILES["reports/2026-11-20/cat/F_I_20261120_OrderEvents_000001.json.bz2"]).hexdigest()
    open_archive(settings).place_hold([recon], "legal", "matter 2029-3")
    later = retention(date="2029-12-01", now_ns=ny_ns(dt.date(2029, 12, 1)))  # 3-year classes have expired
    assert later["archived"] == 0 and later["verified"]
    assert {p["sha256"] for p in later["purged"]} == {cat}
    assert later["purge_held"] == 1
    att = json.loads(Path(later["attestation"][0]).read_text())
    assert [p["sha256"] for p in att["purged"]] == [cat] and att["purge_dry_run"]["held"][0]["object_id"] == recon
    engine = make_engine(settings.db_url)
    with session_scope(engine) as s:
        rows = {r.object_id: r for r in s.scalars(select(RetentionItem))}
    engine.dispose()
    assert cat not in rows and rows[recon].hold and "matter 2029-3" in (rows[recon].hold_reason or "")

    obj = settings.archive_dir / "objects" / recon[:2] / recon
    os.chmod(obj, 0o644)
    obj.write_bytes(b"<html>forged</html>")
    state = retention(date="2029-12-02", now_ns=ny_ns(dt.date(2029, 12, 2)), full_verify=True, return_state=True)
    assert state.is_failed()
    assert recon in (state.message or "") or recon in str(state.result(raise_on_failure=False))
    assert open_archive(settings).store.exists(recon)  # nothing purged on a failed verification
