"""Feedback from the CAT twin -> RPR repairs with the right errorROEID; firm corrections -> COR; deadlines."""

from __future__ import annotations

import bz2
import datetime as dt
from pathlib import Path

import orjson
import pytest

from flows.cat.submission import TwinCatSubmitter
from hw.cat_twin import CatTwin
from hw.cat_twin.lifecycles import mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_corrections, seal_day, seal_repairs, sealed_records
from reports.cat.deadlines import ns_to_ny, previous_session, repair_deadline_ns, submission_deadline_ns
from reports.cat.feedback import parse_feedback
from reports.cat.package import read_data_file
from reports.cat.report import CatDayReport
from reports.errors import CatValidationError

DAY = dt.date(2026, 11, 20)
NOW = 2_000_000_000_000_000_000
CFG = CatConfig()


def sealed_and_submitted(tmp_path: Path, inject: dict[str, list[str]]) -> tuple[Path, CatTwin, TwinCatSubmitter]:
    cat_dir = tmp_path / "cat"
    sub = seal_day(mixed_day(DAY, 2), ACCOUNTS_BY_ID, CFG, DAY, cat_dir, now_ns=NOW)
    twin = CatTwin(tmp_path / "twin", inject=inject)
    submitter = TwinCatSubmitter(twin)
    submitter.submit(cat_dir, sub)
    submitter.fetch_feedback(tmp_path / "feedback")
    return cat_dir, twin, submitter


def test_feedback_when_errors_injected_then_rpr_records_carry_their_error_roe_ids(tmp_path: Path) -> None:
    inject = {"20261120_1.2.0": ["2093"], "20261120_1.7.0": ["2095", "2101"]}
    cat_dir, twin, submitter = sealed_and_submitted(tmp_path, inject)
    fb = parse_feedback(tmp_path / "feedback")
    assert {e.firm_roe_id: e.codes for e in fb.errors} == {"20261120_1.2.0": ("2093",),
                                                           "20261120_1.7.0": ("2095", "2101")}
    assert all(v["status"] == "ACCEPTED" for v in fb.integrity.values())
    sub, missing = seal_repairs(fb.errors, mixed_day(DAY, 2), ACCOUNTS_BY_ID, CFG, DAY, cat_dir, now_ns=NOW)
    assert sub is not None and missing == [] and sub.kind == "RPR"
    repairs = read_data_file(cat_dir / sub.files[0].name)
    originals = sealed_records(cat_dir)
    want = {e.firm_roe_id: e.error_roe_id for e in fb.errors}
    assert {r["firmROEID"]: r["errorROEID"] for r in repairs} == want
    for r in repairs:
        assert r["actionType"] == "RPR" and list(r)[:2] == ["actionType", "errorROEID"]
        orig = {k: v for k, v in originals[r["firmROEID"]].items() if k != "actionType"}
        rest = {k: v for k, v in r.items() if k not in ("actionType", "errorROEID")}
        assert orjson.dumps(rest) == orjson.dumps(orig)  # full restatement, same exact literals
    submitter.submit(cat_dir, sub)
    assert twin.open_errors() == {}  # CAT accepted the repairs
    again, _ = seal_repairs(fb.errors, mixed_day(DAY, 2), ACCOUNTS_BY_ID, CFG, DAY, cat_dir, now_ns=NOW)
    assert again is None  # nothing repaired twice


def test_correction_when_firm_fixes_a_field_then_cor_reuses_original_firm_roe_id(tmp_path: Path) -> None:
    cat_dir, twin, submitter = sealed_and_submitted(tmp_path, {})
    sub = seal_corrections({"20261120_1.1.0": {"firmDesignatedID": "PROPMM01X"}}, CFG, DAY, cat_dir, now_ns=NOW)
    (cor,) = read_data_file(cat_dir / sub.files[0].name)
    assert cor["actionType"] == "COR" and cor["firmROEID"] == "20261120_1.1.0" and "errorROEID" not in cor
    assert cor["firmDesignatedID"] == "PROPMM01X" and cor["type"] == "MENO"
    assert bz2.decompress((cat_dir / sub.files[0].name).read_bytes()).count(b'"price":230.05,') == 1  # exact
    submitter.submit(cat_dir, sub)
    assert twin.open_errors() == {}


def test_correction_when_target_unknown_then_nothing_sealed(tmp_path: Path) -> None:
    cat_dir, _, _ = sealed_and_submitted(tmp_path, {})
    before = sorted(p.name for p in cat_dir.iterdir())
    with pytest.raises(CatValidationError, match="correction_target"):
        seal_corrections({"20261120_nope": {"side": "B"}}, CFG, DAY, cat_dir, now_ns=NOW)
    assert sorted(p.name for p in cat_dir.iterdir()) == before


def test_twin_when_metadata_arrives_before_its_data_then_integrity_rejected(tmp_path: Path) -> None:
    cat_dir = tmp_path / "cat"
    sub = seal_day(mixed_day(DAY), ACCOUNTS_BY_ID, CFG, DAY, cat_dir, now_ns=NOW)
    twin = CatTwin(tmp_path / "twin")
    (twin.upload / sub.metas[0]).write_bytes((cat_dir / sub.metas[0]).read_bytes())
    twin.process()
    fb = parse_feedback(twin.feedback)
    assert fb.integrity[sub.metas[0]]["status"] == "REJECTED" and fb.integrity[sub.metas[0]]["errorCodes"] == ["1101"]


@pytest.mark.parametrize(
    ("day", "t1", "t3"),
    [
        (dt.date(2026, 11, 20), "2026-11-23 08:00:00 EST", "2026-11-25 08:00:00 EST"),  # Fri -> Mon; Wed
        (dt.date(2026, 11, 25), "2026-11-27 08:00:00 EST", "2026-12-01 08:00:00 EST"),  # over Thanksgiving
        (dt.date(2026, 7, 2), "2026-07-06 08:00:00 EDT", "2026-07-08 08:00:00 EDT"),  # July 3 observed holiday
    ],
)
def test_deadlines_when_business_days_then_t1_and_t3_at_eight_new_york(day: dt.date, t1: str, t3: str) -> None:
    assert ns_to_ny(submission_deadline_ns(day)) == t1
    assert ns_to_ny(repair_deadline_ns(day)) == t3


def test_previous_session_when_monday_then_friday() -> None:
    assert previous_session(dt.date(2026, 11, 23)) == dt.date(2026, 11, 20)


def test_report_when_errors_and_late_submission_then_counts_causes_and_outstanding(tmp_path: Path) -> None:
    cat_dir, _, _ = sealed_and_submitted(tmp_path, {"20261120_1.2.0": ["2093"], "20261120_1.7.0": ["2095"]})
    fb = parse_feedback(tmp_path / "feedback")
    late = {"kind": "NEW", "metas": ["m"], "files": ["f"], "records": 44, "late": True, "submitted_et": "x"}
    rep = CatDayReport("2026-11-20", {"MENO": 14, "MEOR": 10}, [late], fb.errors,
                       {fb.errors[0].error_roe_id}, submission_deadline_ns(DAY), repair_deadline_ns(DAY))
    d = rep.to_dict()
    assert d["errors_by_code"] == {"2093": 1, "2095": 1} and d["records"] == 24
    assert d["errors_by_root_cause"] == {"invalid side": 1, "session missing on exchange route": 1}
    assert d["repairs_outstanding"] == [fb.errors[1].error_roe_id] and d["late_submissions"] == [["m"]]
    assert d["forbidden_events"] == {}
    md = rep.to_markdown()
    assert "| MENO | 14 |" in md and "**LATE**" in md
