"""Collectors: kinds and business dates from the data-home layout; nothing present is silently skipped."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from core_bridge.journal.writer import Journal
from core_bridge.protocol import EVENT_DTYPE
from flows.archive.collect import discover
from flows.dates import today_ny

RUN = dt.date(2026, 11, 22)


def touch(home: Path, rel: str, data: bytes = b"x") -> None:
    p = home / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def test_discover_when_home_empty_then_absent_sources_listed_and_nothing_found(tmp_path: Path) -> None:
    d = discover(tmp_path, RUN)
    assert d.requests == [] and d.skipped == []
    assert {Path(p).name for p in d.absent_sources} == {"journal", "inbox", "quarantine", "audit", "clocksync",
                                                        "reports"}


def test_discover_when_clock_sync_logs_then_past_days_archived_and_the_run_date_left_appending(tmp_path: Path) -> None:
    clock = tmp_path / "clocksync"
    clock.mkdir()
    for day in ("2026-11-19", RUN.isoformat()):
        (clock / f"clocksync_{day}.csv").write_text("time_utc,time_ns,node,source,offset_ns\n")
    (tmp_path / "inbox" / "20261120").mkdir(parents=True)
    (tmp_path / "inbox" / "20261120" / "cns_ftd_20261120.txt").write_text("#CNSFTD\n")
    (tmp_path / "reports" / "2026-11-19" / "clock").mkdir(parents=True)
    (tmp_path / "reports" / "2026-11-19" / "clock" / "clock_2026-11-19.json").write_text("{}")
    d = discover(tmp_path, RUN)
    kinds = {r.source: (r.kind, r.business_date.isoformat()) for r in d.requests}
    assert kinds["clocksync/clocksync_2026-11-19.csv"] == ("clock_sync_log", "2026-11-19")
    assert kinds["inbox/20261120/cns_ftd_20261120.txt"] == ("fails_to_deliver", "2026-11-20")
    assert kinds["reports/2026-11-19/clock/clock_2026-11-19.json"] == ("clock_report", "2026-11-19")
    assert f"clocksync/clocksync_{RUN}.csv" in {src for src, _ in d.skipped}


def test_discover_when_layout_populated_then_kinds_and_business_dates(tmp_path: Path) -> None:
    for rel in [
        "inbox/20261120/sod_positions_20261120.txt",
        "inbox/20261120/balances_20261120.csv",
        "inbox/20261120/etb_20261120.txt",
        "inbox/regsho/nasdaqth20261119.txt",
        "quarantine/trades_20261120.csv",
        "audit/control-2026-11-20.jsonl",
        "audit/limits-2026-11-20.jsonl",
        "reports/2026-11-20/cat/FIRM_IMID_20261120_OrderEvents_000001.json.bz2",
        "reports/2026-11-20/cat/FIRM_IMID_20261120_OrderEvents_000001.meta.json",
        "reports/2026-11-20/cat/feedback/FIRM_IMID_20261120_OrderEvents_000001.feedback.json",
        "reports/2026-11-20/recon/recon.html",
        "reports/2026-11-20/recon/signoff.json",
        "reports/2026-11-20/locates/locate_log.csv",
        "reports/2026-11-20/ha/drill.json",
        "reports/2026-11-20/kills/kill-1411370455-account-PROP03.json",
        "reports/2026-11-20/ops-report.html",
    ]:
        touch(tmp_path, rel)
    got = {r.source: (r.kind, r.business_date.isoformat()) for r in discover(tmp_path, RUN).requests}
    assert got == {
        "inbox/20261120/sod_positions_20261120.txt": ("sod_positions", "2026-11-20"),
        "inbox/20261120/balances_20261120.csv": ("balances", "2026-11-20"),
        "inbox/20261120/etb_20261120.txt": ("borrow_list", "2026-11-20"),
        "inbox/regsho/nasdaqth20261119.txt": ("threshold_list", "2026-11-19"),
        "quarantine/trades_20261120.csv": ("clearing_trades", "2026-11-20"),
        "audit/control-2026-11-20.jsonl": ("control_audit", "2026-11-20"),
        "audit/limits-2026-11-20.jsonl": ("limit_change", "2026-11-20"),
        "reports/2026-11-20/cat/FIRM_IMID_20261120_OrderEvents_000001.json.bz2": ("cat_file", "2026-11-20"),
        "reports/2026-11-20/cat/FIRM_IMID_20261120_OrderEvents_000001.meta.json": ("cat_metadata", "2026-11-20"),
        "reports/2026-11-20/cat/feedback/FIRM_IMID_20261120_OrderEvents_000001.feedback.json": (
            "cat_feedback", "2026-11-20"),
        "reports/2026-11-20/recon/recon.html": ("recon_report", "2026-11-20"),
        "reports/2026-11-20/recon/signoff.json": ("recon_signoff", "2026-11-20"),
        "reports/2026-11-20/locates/locate_log.csv": ("locate_log", "2026-11-20"),
        "reports/2026-11-20/ha/drill.json": ("ha_drill_report", "2026-11-20"),
        "reports/2026-11-20/kills/kill-1411370455-account-PROP03.json": ("kill_report", "2026-11-20"),
        "reports/2026-11-20/ops-report.html": ("daily_report", "2026-11-20"),
    }


def test_discover_when_files_in_progress_or_future_dated_then_listed_as_skipped_with_reason(tmp_path: Path) -> None:
    touch(tmp_path, "inbox/20261120/.sod_positions_20261120.txt.part")
    touch(tmp_path, "reports/2026-11-20/cat/.x.json.tmp")
    touch(tmp_path, "reports/2026-11-23/ops-report.html")
    d = discover(tmp_path, RUN)
    assert d.requests == []
    why = dict(d.skipped)
    assert "still being written" in why["inbox/20261120/.sod_positions_20261120.txt.part"]
    assert "still being written" in why["reports/2026-11-20/cat/.x.json.tmp"]
    assert "after the run date" in why["reports/2026-11-23"]


def test_discover_when_journal_has_sealed_and_open_segments_then_only_sealed_archived(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    recs = np.zeros(4, dtype=EVENT_DTYPE)
    recs["seq"] = np.arange(1, 5)
    recs["epoch"] = 1
    before = today_ny()
    with Journal.open(jdir) as j:
        j.append(recs[:2])
        j.commit()
        j.seal()
        j.append(recs[2:])
        j.commit()
    d = discover(tmp_path, RUN)
    assert [(Path(r.source).suffix, r.kind) for r in d.requests] == [(".seg", "journal_segment")]
    assert d.requests[0].business_date in {before, today_ny()}  # the New York date of the seal
    assert [Path(s).suffix for s, _why in d.skipped] == [".open"]
    assert d.warnings == []
