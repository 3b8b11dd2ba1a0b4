"""The `cat` and `cat-feedback` flows under a real Prefect harness, with the CAT twin as submitter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import orjson
import pytest

from hw.cat_twin.lifecycles import mixed_day
from reports.cat.deadlines import submission_deadline_ns
from reports.cat.package import read_data_file

DAY = dt.date(2026, 11, 20)


def test_cat_flows_when_small_day_then_sealed_submitted_repaired_and_reported(
    prefect_harness: None, ops_home: Path, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    from core_bridge.settings import load_settings
    from flows.jobs.cat import cat
    from flows.jobs.cat_feedback import cat_feedback
    from flows.store.db import make_engine, upgrade
    from flows.store.models import CatFeedback, CatSubmission

    (ops_home / "db").mkdir()
    upgrade(load_settings().db_url)  # a migrated ops store: submissions and feedback get recorded there too

    events = tmp_path / "day.npy"
    np.save(events, mixed_day(DAY, 3))
    twin_dir = ops_home / "cat_twin"
    twin_dir.mkdir()
    (twin_dir / "inject.json").write_text(json.dumps({"20261120_1.2.0": ["2093"]}))

    out = cat(date="2026-11-20", events_path=str(events))
    cat_dir = ops_home / "reports" / "2026-11-20" / "cat"
    assert out["counts"]["MENO"] == 21 and not out["already_sealed"] and len(out["submitted"]) == 1
    sub = out["submitted"][0]
    assert sub["late"] is (sub["submitted_ns"] > submission_deadline_ns(DAY)) and sub["deadline_ns"] == \
        submission_deadline_ns(DAY)
    sealed = sorted(p.name for p in cat_dir.iterdir() if p.is_file())

    again = cat(date="2026-11-20", events_path=str(events))  # rerun: nothing new sealed or sent
    assert again["already_sealed"] and again["submitted"] == []
    assert sorted(p.name for p in cat_dir.iterdir() if p.is_file()) == sealed

    fb = cat_feedback(date="2026-11-20", events_path=str(events))
    assert fb["errors"] == 1 and fb["outstanding"] == [] and len(fb["submitted"]) == 1
    rpr_file = fb["submitted"][0]["files"][0]
    (rpr,) = read_data_file(cat_dir / rpr_file)
    assert rpr["actionType"] == "RPR" and rpr["firmROEID"] == "20261120_1.2.0" and rpr["errorROEID"] >= 7_000_000_001
    report = json.loads((ops_home / "reports" / "2026-11-20" / "cat_report.json").read_text())
    assert report["errors_by_code"] == {"2093": 1} and report["repairs_outstanding"] == []
    assert report["counts_by_event"]["MEOR"] == 18 and "MEOT" not in report["counts_by_event"]
    assert orjson.loads((cat_dir / out["metas"][0]).read_bytes())["doneForDay"] is True
    engine = make_engine(load_settings().db_url)
    try:
        with engine.connect() as conn:
            subs = conn.execute(sa.select(CatSubmission.file_name, CatSubmission.late)).all()
            fbs = conn.execute(sa.select(CatFeedback.error_code, CatFeedback.status, CatFeedback.repair_file)).all()
    finally:
        engine.dispose()
    assert sorted(n for n, _ in subs) == sorted(out["files"] + [rpr_file])
    assert fbs == [("2093", "repaired", rpr_file)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_load_events_when_store_has_the_day_then_builder_gets_them(
    backend: str, ops_home: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core_bridge.settings import load_settings
    from flows.cat.events import load_events
    from flows.store.db import make_engine, upgrade
    from flows.store.loader import load_events as store_load

    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    monkeypatch.setenv("COLO_OPS_DB_URL", url)
    upgrade(url)
    ev = mixed_day(DAY, 2)
    engine = make_engine(url)
    try:
        store_load(engine, ev)
    finally:
        engine.dispose()
    got = load_events(load_settings(), DAY)
    assert len(got) == len(ev) and got.tobytes() == ev.tobytes()


def test_load_events_when_only_a_journal_then_the_dates_events_are_read(ops_home: Path) -> None:
    from core_bridge.journal.writer import Journal
    from core_bridge.settings import load_settings
    from flows.cat.events import load_events

    day1 = mixed_day(DAY)
    day2 = mixed_day(DAY + dt.timedelta(days=3))
    day2["seq"] += len(day1)
    j = Journal.open(ops_home / "journal")
    try:
        j.append(day1)
        j.append(day2)
    finally:
        j.close(seal=True)
    got = load_events(load_settings(), DAY)
    assert got.tobytes() == day1.tobytes()
