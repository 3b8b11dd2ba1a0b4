"""Reconciliation against a real store (SQLite and PostgreSQL) and real clearer files: injected breaks found
exactly, re-runs idempotent, resolved breaks stay resolved, sign-off recorded, missing sources fail closed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from core_bridge.settings import load_settings
from flows.errors import ReconError
from flows.recon import scenarios
from flows.recon import store as rstore
from flows.recon.inputs import fetch_inputs
from flows.recon.reconcile import ReconResult, reconcile
from flows.recon.synthetic import consistent_day
from flows.store.db import make_engine, session_scope
from flows.store.models import ReconRunStatus
from tests.integration.recon_world import DAY, NEXT, fills_for, make_world, seed_store, write_clearing

ALL = list(scenarios.SCENARIOS)


def _run(db_url: str, day: dt.date) -> tuple[ReconResult, list[str]]:
    engine = make_engine(db_url)
    try:
        inputs, _ = fetch_inputs(day, load_settings(), engine)
        result = reconcile(inputs)
        with session_scope(engine) as s:
            run_id = rstore.start_run(s, day.isoformat(), dt.datetime.now(dt.UTC))
            new = rstore.save_result(s, result, run_id)
            rstore.save_core_snapshot(s, day.isoformat(), inputs.core_positions, inputs.symbols)
            rstore.finish_run(s, run_id, ReconRunStatus.BREAKS, {}, dt.datetime.now(dt.UTC))
        return result, new
    finally:
        engine.dispose()


def _stored(db_url: str, as_of: str | None = None, open_only: bool = False):  # -> DataFrame
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            return rstore.load_breaks(s, as_of=as_of, open_only=open_only)
    finally:
        engine.dispose()


def test_recon_when_every_scenario_injected_then_exact_breaks_stored_and_rerun_idempotent(
        db_url: str, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cday, _ = make_world(tmp_path, db_url, ALL, monkeypatch)
    first, new1 = _run(db_url, DAY)
    assert sorted(zip(first.breaks["btype"], first.breaks["key"], strict=True)) == sorted(cday.expected)
    assert {t for t, _ in cday.expected} == {"TIMING_AFTER_CUTOFF", "MISSING_AT_CLEARING", "QTY_MISMATCH",
                                              "PRICE_MISMATCH", "CORPORATE_ACTION", "CORE_DIVERGES"}
    assert new1 == sorted(first.breaks["break_id"])
    before = _stored(db_url)
    again, new2 = _run(db_url, DAY)
    assert new2 == []
    assert again.breaks.equals(first.breaks)
    after = _stored(db_url)
    assert after.drop(columns=["age_days"]).equals(before.drop(columns=["age_days"]))


def test_signoff_when_recorded_then_who_when_note_kept_and_rerun_keeps_it_closed(
        db_url: str, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_world(tmp_path, db_url, ["missing_fill_at_clearing"], monkeypatch)
    first, _ = _run(db_url, DAY)
    bid = first.breaks["break_id"][0]
    when = dt.datetime(2026, 11, 20, 23, 15, tzinfo=dt.UTC)
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            rstore.signoff(s, bid, "jdoe", "clearer booked it as-of; confirmed by phone", when)
        with session_scope(engine) as s, pytest.raises(ReconError, match="already signed_off by jdoe"):
            rstore.signoff(s, bid, "other", "again", when)
    finally:
        engine.dispose()
    _, new = _run(db_url, DAY)
    assert new == []
    row = _stored(db_url).set_index("break_id").loc[bid]
    assert (row["status"], row["signoff_by"], row["signoff_note"]) == (
        "SIGNED_OFF", "jdoe", "clearer booked it as-of; confirmed by phone")
    assert row["signoff_at"] == when.isoformat()
    assert _stored(db_url, open_only=True).empty


def test_timing_break_when_late_fill_arrives_next_day_then_auto_resolved_and_stays_resolved(
        db_url: str, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world, cday, fills = make_world(tmp_path, db_url, ["late_trade_after_cutoff"], monkeypatch)
    day1, _ = _run(db_url, DAY)
    assert day1.breaks["btype"].tolist() == ["TIMING_AFTER_CUTOFF"]
    # Day 2: the clearer's SOD (= its day-1 EOD) lacks the late fill; its day-2 file carries it.
    sod2 = cday.clearing_positions.rename(columns={"td_qty": "qty"})[["account", "cusip", "qty"]]
    sod2 = sod2.loc[sod2["qty"] != 0]
    fills2 = fills_for(NEXT, 10, 9)
    fills2 = fills2.assign(ts_ns=fills2["ts_ns"].where(fills2.index < len(fills2) - 1, fills2["ts_ns"].iloc[0] + 99))
    seed_store(world.db_url, NEXT, sod2, fills2, epoch=2)
    day2_clean = consistent_day(NEXT.isoformat(), "2026-11-24", sod2, fills2)
    assert cday.carried_trades is not None
    carried = cday.carried_trades.assign(settle_date=NEXT.isoformat())
    late_net = carried.assign(signed=carried["side"].astype("int64") * carried["qty"])
    pos = day2_clean.clearing_positions.copy()
    for r in late_net.itertuples(index=False):  # the clearer books it on day 2: TD and (settled) SD move
        hit = (pos["account"] == r.account) & (pos["cusip"] == r.cusip)
        if hit.any():
            pos.loc[hit, ["td_qty", "sd_qty"]] += r.signed
        else:
            pos.loc[len(pos)] = {"account": r.account, "cusip": r.cusip, "symbol": r.symbol, "td_qty": r.signed,
                                 "sd_qty": r.signed}
    from dataclasses import replace

    write_clearing(world.root, NEXT, replace(day2_clean, clearing_positions=pos), extra_trades=carried)
    world.snapshot.write_bytes(orjson.dumps({"positions": day2_clean.core_positions}))
    day2, new2 = _run(db_url, NEXT)
    assert day2.breaks.empty and new2 == []
    assert day2.resolutions["rule"].tolist() == ["TIMING_ARRIVED"]
    row = _stored(db_url).set_index("break_id").loc[day1.breaks["break_id"][0]]
    assert (row["status"], row["resolution"], row["resolved_on"]) == ("AUTO_RESOLVED", "TIMING_ARRIVED",
                                                                      NEXT.isoformat())
    # Re-running either day leaves it resolved and creates nothing new.
    assert _run(db_url, DAY)[1] == [] and _run(db_url, NEXT)[1] == []
    assert _stored(db_url, open_only=True).empty


@pytest.mark.parametrize("missing", ["eod_positions", "trades", "core", "sod"])
def test_recon_when_a_source_is_missing_then_recon_error_and_nothing_stored(
        missing: str, sqlite_url: str, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world, _, _ = make_world(tmp_path, sqlite_url, [], monkeypatch)
    if missing in ("eod_positions", "trades"):
        ext = "csv" if missing == "trades" else "txt"
        (world.root / "outgoing" / f"{DAY:%Y%m%d}" / f"{missing}_{DAY:%Y%m%d}.{ext}").unlink()
    elif missing == "core":
        world.snapshot.unlink()
    else:
        monkeypatch.setenv("COLO_OPS_DB_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
        from flows.store.db import upgrade

        upgrade(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(ReconError, match={"eod_positions": "eod_positions", "trades": "trades",
                                          "core": "core snapshot", "sod": "no SOD positions"}[missing]):
        _run(load_settings().db_url, DAY)
    assert _stored(sqlite_url).empty


def test_recon_when_trade_file_truncated_mid_row_then_recon_error_names_line(
        sqlite_url: str, tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world, _, _ = make_world(tmp_path, sqlite_url, [], monkeypatch)
    path = world.root / "outgoing" / f"{DAY:%Y%m%d}" / f"trades_{DAY:%Y%m%d}.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    with pytest.raises(ReconError, match="line 4"):
        _run(sqlite_url, DAY)


@pytest.mark.parametrize(("kind", "edit", "where"), [
    ("trades", lambda b: b.replace(f"|{DAY:%Y%m%d}|".encode(), f"|{NEXT:%Y%m%d}|".encode(), 1),
     "line 1 field as_of_date"),
    ("trades", lambda b: b"".join(b.splitlines(keepends=True)[:-1]), "field record_type"),  # trailer lost
    ("trades", lambda b: b"".join(b.splitlines(keepends=True)[:3] + b.splitlines(keepends=True)[4:]),
     "field record_count"),  # a trade lost, trailer intact
    ("eod_positions", lambda b: b.replace(b"EOD POSITIONS", b"SOD POSITIONS", 1), "line 1 field file_name"),
    ("eod_positions", lambda b: b.replace(f"POSITIONS  {DAY:%Y%m%d}".encode(), f"POSITIONS  {NEXT:%Y%m%d}".encode(),
                                          1), "line 1 field as_of_date"),
], ids=["trades-header-date", "trades-no-trailer", "trades-row-lost", "eod-is-sod", "eod-header-date"])
def test_recon_when_a_clearer_file_fails_its_header_or_trailer_then_recon_error_and_file_quarantined(
        kind: str, edit: object, where: str, sqlite_url: str, tmp_path: Path, ops_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world, _, _ = make_world(tmp_path, sqlite_url, [], monkeypatch)
    ext = "csv" if kind == "trades" else "txt"
    path = world.root / "outgoing" / f"{DAY:%Y%m%d}" / f"{kind}_{DAY:%Y%m%d}.{ext}"
    path.write_bytes(edit(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(ReconError, match=where):
        _run(sqlite_url, DAY)
    assert (ops_home / "quarantine" / DAY.isoformat() / path.name).is_file()
    assert _stored(sqlite_url).empty
