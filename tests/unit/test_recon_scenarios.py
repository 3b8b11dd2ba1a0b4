"""Injected breaks are found exactly: every injected break with the right type, nothing else."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.recon import scenarios
from flows.recon.reconcile import ReconResult, core_positions_frame, reconcile
from flows.recon.scenarios import ScenarioDay
from flows.recon.synthetic import consistent_day, random_fills
from tests.unit.recon_helpers import CUSIPS, SYMBOLS, pos

D, SD = "2026-11-20", "2026-11-23"
SOD = [("PROP01", CUSIPS["AAPL"], 500), ("PROP02", CUSIPS["T"], -300), ("PROP03", CUSIPS["IBM"], 1000),
       ("PROP01", CUSIPS["T"], 200)]


def _day(seed: int = 3) -> tuple[ScenarioDay, pd.DataFrame, pd.DataFrame]:
    fills = random_fills(D, 60, seed, 1_795_700_000_000_000_000)
    sod = pos(SOD)
    return consistent_day(D, SD, sod, fills), sod, fills


def _run(day: ScenarioDay, sod: pd.DataFrame, fills: pd.DataFrame) -> ReconResult:
    from tests.unit.recon_helpers import inputs

    return reconcile(inputs(sod=sod, internal=fills, cpositions=day.clearing_positions, ctrade=day.clearing_trades,
                            core=core_positions_frame(day.core_positions, CUSIPS),
                            cutoff_ns=day.cutoff_ns or 2**62, corporate_actions=day.corporate_actions))


def _found(r: ReconResult) -> list[tuple[str, str]]:
    return sorted(zip(r.breaks["btype"], r.breaks["key"], strict=True))


def test_consistent_day_when_reconciled_then_no_breaks() -> None:
    day, sod, fills = _day()
    r = _run(day, sod, fills)
    assert _found(r) == []
    assert r.stats["matched_by_exec_id"] == len(fills)


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_scenario_when_injected_alone_then_exactly_its_breaks(name: str) -> None:
    day, sod, fills = _day()
    bad = scenarios.inject(day, [name])
    assert bad.expected, name
    assert _found(_run(bad, sod, fills)) == sorted(bad.expected)


def test_scenarios_when_all_injected_together_then_exact_union() -> None:
    day, sod, fills = _day(seed=11)
    bad = scenarios.inject(day, reversed(list(scenarios.SCENARIOS)))
    kinds = {t for t, _ in bad.expected}
    assert kinds == {"TIMING_AFTER_CUTOFF", "MISSING_AT_CLEARING", "QTY_MISMATCH", "PRICE_MISMATCH",
                     "CORPORATE_ACTION", "CORE_DIVERGES"}
    r = _run(bad, sod, fills)
    assert _found(r) == sorted(bad.expected)
    assert SYMBOLS  # the security master is what keys the core snapshot


def test_scenario_when_unknown_name_then_value_error() -> None:
    day, _, _ = _day()
    with pytest.raises(ValueError, match="unknown scenario"):
        scenarios.inject(day, ["no_such_thing"])
