"""Auto-resolution rules across days: each rule explicit, and re-runs resolve the same way."""

from __future__ import annotations

import pandas as pd

from flows.recon.reconcile import ReconResult, reconcile
from tests.unit.recon_helpers import AAPL, CUTOFF, cpos, ctrades, execs, fill, found, inputs, pos

D1, D2 = "2026-11-19", "2026-11-20"
SETTLE = {D1: D2, D2: "2026-11-23"}


def _stored(result: ReconResult, prior: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the store would hand back as `prior_breaks` next day: today's breaks + resolved ones marked."""
    frames = [result.breaks] + ([prior] if prior is not None else [])
    out = pd.concat(frames, ignore_index=True).drop_duplicates("break_id")
    out.loc[out["break_id"].isin(result.resolutions["break_id"]), "status"] = "AUTO_RESOLVED"
    return out


def _late_day() -> tuple[ReconResult, pd.DataFrame]:
    late = fill("L1", qty=200, ts=CUTOFF + 10, date=D1)
    day1 = reconcile(inputs(trade_date=D1, internal=execs([late]), cpositions=cpos([]),
                            core=pos([("PROP01", AAPL, 200)]), settle_dates=SETTLE))
    return day1, execs([late])


def test_timing_when_fill_after_cutoff_then_carried_with_no_position_break() -> None:
    day1, _ = _late_day()
    assert found(day1) == [("TIMING_AFTER_CUTOFF", "L1")]
    assert day1.breaks["status"].tolist() == ["CARRIED"]


def test_timing_arrived_when_late_fill_in_next_clearer_file_then_resolved_and_not_missing_internal() -> None:
    day1, late = _late_day()
    # Next day: SOD (from the clearer, which had not booked it) lacks it; the clearer's file now has it.
    arriving = ctrades([fill("L1", qty=200, ts=CUTOFF + 10, date=D1)], settle=D2)
    day2 = reconcile(inputs(trade_date=D2, sod=pos([]), internal=execs([]), ctrade=arriving,
                            cpositions=cpos([("PROP01", AAPL, 200, 200)]), core=pos([]),
                            settle_dates=SETTLE, prior_breaks=_stored(day1)))
    assert found(day2) == []
    assert day2.resolutions[["break_id", "rule"]].values.tolist() == [[day1.breaks["break_id"][0], "TIMING_ARRIVED"]]


def test_timing_arrived_when_clearer_uses_another_exec_id_then_matched_on_account_cusip_qty() -> None:
    day1, _ = _late_day()
    arriving = ctrades([fill("CLR-77", qty=200, date=D1)], settle=D2)
    day2 = reconcile(inputs(trade_date=D2, ctrade=arriving, cpositions=cpos([("PROP01", AAPL, 200, 200)]),
                            settle_dates=SETTLE, prior_breaks=_stored(day1)))
    assert found(day2) == []
    assert day2.resolutions["rule"].tolist() == ["TIMING_ARRIVED"]


def test_timing_when_late_fill_never_arrives_then_stays_open_and_unresolved() -> None:
    day1, _ = _late_day()
    day2 = reconcile(inputs(trade_date=D2, settle_dates=SETTLE, prior_breaks=_stored(day1)))
    assert found(day2) == [] and day2.resolutions.empty


def _qty_break_day(trade_date: str, clearer_td: int, prior: pd.DataFrame | None = None) -> ReconResult:
    return reconcile(inputs(trade_date=trade_date, sod=pos([("PROP01", AAPL, 500)]),
                            cpositions=cpos([("PROP01", AAPL, clearer_td, clearer_td)]),
                            core=pos([("PROP01", AAPL, 500)]), settle_dates=SETTLE,
                            prior_breaks=prior if prior is not None else inputs().prior_breaks))


def test_position_break_when_found_again_next_day_then_keeps_id_and_first_seen() -> None:
    day1 = _qty_break_day(D1, 600)
    day2 = _qty_break_day(D2, 600, _stored(day1))
    assert day2.breaks["break_id"].tolist() == day1.breaks["break_id"].tolist()
    assert day2.breaks["trade_date"].tolist() == [D1]
    assert day2.resolutions.empty


def test_position_now_agrees_when_break_gone_next_day_then_auto_resolved() -> None:
    day1 = _qty_break_day(D1, 600)
    day2 = _qty_break_day(D2, 500, _stored(day1))
    assert found(day2) == []
    assert day2.resolutions["rule"].tolist() == ["POSITION_NOW_AGREES"]


def test_execution_break_when_not_found_next_day_then_not_auto_resolved() -> None:
    day1 = reconcile(inputs(trade_date=D1, internal=execs([fill("1", date=D1)]),
                            cpositions=cpos([("PROP01", AAPL, 0, 0)]), core=pos([("PROP01", AAPL, 100)]),
                            settle_dates=SETTLE))
    assert found(day1) == [("MISSING_AT_CLEARING", "1")]
    day2 = reconcile(inputs(trade_date=D2, settle_dates=SETTLE, prior_breaks=_stored(day1)))
    assert day2.resolutions.empty


def test_rerun_when_day_two_run_twice_then_same_breaks_and_resolutions() -> None:
    day1 = _qty_break_day(D1, 600)
    prior = _stored(day1)
    a = _qty_break_day(D2, 500, prior)
    # The store keeps the resolved break with last_seen = D2, so a re-run of D2 sees it as prior again.
    b = _qty_break_day(D2, 500, prior)
    pd.testing.assert_frame_equal(a.resolutions, b.resolutions)
    pd.testing.assert_frame_equal(a.breaks, b.breaks)
