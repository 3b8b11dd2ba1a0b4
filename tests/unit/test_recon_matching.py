"""Phase-by-phase reconciliation math, table-style: each case is rows in, exact (type, key) set out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pytest

from flows.errors import ReconError
from flows.recon.reconcile import journal_positions, reconcile
from tests.unit.recon_helpers import (
    AAPL,
    CUTOFF,
    MSFT,
    T0,
    cpos,
    ctrades,
    execs,
    fill,
    found,
    inputs,
    pos,
)


def _consistent(internal: Sequence[Mapping[str, Any]], clearing: Sequence[Mapping[str, Any]], **kw: Any) -> Any:
    """Both sides' positions equal to their own trades (so only execution-level breaks can appear)."""
    i, c = execs(internal), ctrades(clearing)
    ipos = journal_positions(pos([]), i)
    cp = journal_positions(pos([]), c)
    clearing_positions = cpos([(a, u, q, 0) for a, u, q in cp.itertuples(index=False)])
    return reconcile(inputs(internal=i, ctrade=c, cpositions=clearing_positions, core=ipos, **kw))


EXEC_CASES = [
    ("identical fills", [fill("1")], [fill("1")], []),
    ("clearer has another exec id, same order/attrs", [fill("1")], [fill("C9")], []),
    ("side differs", [fill("1")], [fill("1", side=-1)], [("SIDE_MISMATCH", "1")]),
    ("qty differs", [fill("1")], [fill("1", qty=200)], [("QTY_MISMATCH", "1")]),
    ("price differs", [fill("1")], [fill("1", price=2_300_100)], [("PRICE_MISMATCH", "1")]),
    ("missing at clearing before cutoff", [fill("1")], [], [("MISSING_AT_CLEARING", "1")]),
    ("missing at clearing after cutoff", [fill("1", ts=CUTOFF + 1)], [], [("TIMING_AFTER_CUTOFF", "1")]),
    ("missing internally", [], [fill("7")], [("MISSING_INTERNAL", "7")]),
    ("attrs match but price outside tolerance", [fill("1")], [fill("C1", price=2_300_500)],
     [("MISSING_AT_CLEARING", "1"), ("MISSING_INTERNAL", "C1")]),
    ("two equal fills of one order pair one-to-one", [fill("1"), fill("2")], [fill("C1"), fill("C2")], []),
    ("three internal, two at clearer", [fill("1"), fill("2"), fill("3")], [fill("C1"), fill("C2")],
     [("MISSING_AT_CLEARING", "3")]),
    ("same exec id but other account is not a match", [fill("1")], [fill("1", acct="PROP02")],
     [("MISSING_AT_CLEARING", "1"), ("MISSING_INTERNAL", "1")]),
    ("qty and price both differ", [fill("1")], [fill("1", qty=300, price=1)],
     [("PRICE_MISMATCH", "1"), ("QTY_MISMATCH", "1")]),
]


@pytest.mark.parametrize(("case", "internal", "clearing", "expected"), EXEC_CASES, ids=[c[0] for c in EXEC_CASES])
def test_match_executions_when_case_then_exact_breaks(case: str, internal: list[dict[str, Any]],
                                                      clearing: list[dict[str, Any]],
                                                      expected: list[tuple[str, str]]) -> None:
    assert found(_consistent(internal, clearing)) == sorted(expected)


def test_match_executions_when_price_within_tolerance_then_attribute_match() -> None:
    r = _consistent([fill("1")], [fill("C1", price=2_300_001)], price_tolerance=1)
    assert found(r) == []
    assert r.stats["matched_by_attributes"] == 1


def test_timing_break_when_found_then_status_carried_and_others_open() -> None:
    r = _consistent([fill("1", ts=CUTOFF + 5), fill("2")], [])
    status = dict(zip(r.breaks["key"], r.breaks["status"], strict=True))
    assert status == {"1": "CARRIED", "2": "OPEN"}


POSITION_CASES = [
    # (case, sod, internal fills, clearer EOD (td, sd), core, expected)
    ("all agree", [("PROP01", AAPL, 500)], [fill("1")], [("PROP01", AAPL, 600, 500)], [("PROP01", AAPL, 600)], []),
    ("clearer TD off with consistent trades", [("PROP01", AAPL, 500)], [fill("1")], [("PROP01", AAPL, 700, 600)],
     [("PROP01", AAPL, 600)], [("QTY_MISMATCH", f"PROP01|{AAPL}")]),
    ("clearer holds a position we do not", [], [], [("PROP02", MSFT, -300, -300)], [],
     [("QTY_MISMATCH", f"PROP02|{MSFT}")]),
    ("clearer SD not TD less today's trades", [("PROP01", AAPL, 500)], [fill("1")], [("PROP01", AAPL, 600, 600)],
     [("PROP01", AAPL, 600)], [("SETTLEMENT_MISMATCH", f"PROP01|{AAPL}")]),
    ("core differs from journal", [("PROP01", AAPL, 500)], [fill("1")], [("PROP01", AAPL, 600, 500)],
     [("PROP01", AAPL, 700)], [("CORE_DIVERGES", f"PROP01|{AAPL}")]),
    ("core missing a position", [("PROP01", AAPL, 500)], [], [("PROP01", AAPL, 500, 500)], [],
     [("CORE_DIVERGES", f"PROP01|{AAPL}")]),
]


@pytest.mark.parametrize(("case", "sod", "fills", "clearing", "core", "expected"), POSITION_CASES,
                         ids=[c[0] for c in POSITION_CASES])
def test_positions_when_case_then_exact_breaks(case: str, sod: list[Any], fills: list[dict[str, Any]],
                                               clearing: list[Any], core: list[Any],
                                               expected: list[tuple[str, str]]) -> None:
    r = reconcile(inputs(sod=pos(sod), internal=execs(fills), ctrade=ctrades(fills), cpositions=cpos(clearing),
                         core=pos(core)))
    assert found(r) == sorted(expected)


def test_core_when_journal_lost_a_fill_the_core_has_then_only_missing_internal() -> None:
    # The clearer and the core both have fill 9; the journal lost it: one cause, one break.
    clearing = [fill("9", qty=200)]
    r = reconcile(inputs(sod=pos([("PROP01", AAPL, 500)]), internal=execs([]), ctrade=ctrades(clearing),
                         cpositions=cpos([("PROP01", AAPL, 700, 500)]), core=pos([("PROP01", AAPL, 700)])))
    assert found(r) == [("MISSING_INTERNAL", "9")]


def test_settlement_when_trade_settle_date_not_t_plus_1_then_trade_break() -> None:
    f = fill("1")
    r = reconcile(inputs(internal=execs([f]), ctrade=ctrades([f], settle="2026-11-24"),
                         cpositions=cpos([("PROP01", AAPL, 100, 0)]), core=pos([("PROP01", AAPL, 100)])))
    assert found(r) == [("SETTLEMENT_MISMATCH", "1")]


def test_settlement_when_prior_day_fills_unsettled_over_bank_holiday_then_expected_sd_excludes_them() -> None:
    # 2026-11-11 (Veterans Day) trades but DTC is closed: 11-10's fills settle 11-12, so SD on 11-11 lacks them.
    prior = execs([fill("P1", qty=300, date="2026-11-10")])
    r = reconcile(inputs(trade_date="2026-11-11", sod=pos([("PROP01", AAPL, 800)]),
                         cpositions=cpos([("PROP01", AAPL, 800, 500)]), core=pos([("PROP01", AAPL, 800)]),
                         prior_unsettled=prior, settle_dates={}))
    assert found(r) == []


CA = pd.DataFrame([{"old_cusip": AAPL, "new_cusip": "99999Z108", "new_symbol": "CHGD", "ratio_num": 2,
                    "ratio_den": 1, "effective_date": "2026-11-20"}])


def test_corporate_action_when_books_hold_old_cusip_then_one_break_per_account() -> None:
    r = reconcile(inputs(sod=pos([("PROP01", AAPL, 500), ("PROP02", AAPL, -100)]),
                         cpositions=cpos([("PROP01", "99999Z108", 1000, 1000), ("PROP02", "99999Z108", -200, -200)]),
                         core=pos([("PROP01", AAPL, 500), ("PROP02", AAPL, -100)]), corporate_actions=CA))
    assert found(r) == [("CORPORATE_ACTION", f"PROP01|{AAPL}"), ("CORPORATE_ACTION", f"PROP02|{AAPL}")]


def test_corporate_action_when_split_quantity_also_wrong_then_qty_break_on_new_cusip_too() -> None:
    r = reconcile(inputs(sod=pos([("PROP01", AAPL, 500)]), cpositions=cpos([("PROP01", "99999Z108", 900, 900)]),
                         core=pos([("PROP01", AAPL, 500)]), corporate_actions=CA))
    assert found(r) == [("CORPORATE_ACTION", f"PROP01|{AAPL}"), ("QTY_MISMATCH", "PROP01|99999Z108")]


def test_corporate_action_when_not_yet_effective_then_ignored() -> None:
    late = CA.assign(effective_date="2026-11-23")
    r = reconcile(inputs(sod=pos([("PROP01", AAPL, 500)]), cpositions=cpos([("PROP01", AAPL, 500, 500)]),
                         core=pos([("PROP01", AAPL, 500)]), corporate_actions=late))
    assert found(r) == []


@pytest.mark.parametrize(
    ("field", "change", "message"),
    [
        ("clearing_trades", lambda f: f.drop(columns=["price"]), "missing column(s) price"),
        ("internal_execs", lambda f: f.assign(side=2), "column side: must be +1 or -1"),
        ("clearing_positions", lambda f: pd.concat([f, f]), "duplicate account+cusip"),
        ("sod_positions", lambda f: f.assign(qty=["x"]), "column qty"),
    ],
)
def test_reconcile_when_a_source_frame_is_malformed_then_recon_error_names_it(field: str, change: Any,
                                                                              message: str) -> None:
    base = {
        "internal_execs": execs([fill("1")]), "clearing_trades": ctrades([fill("1")]),
        "clearing_positions": cpos([("PROP01", AAPL, 100, 0)]), "sod_positions": pos([("PROP01", MSFT, 5)]),
    }
    base[field] = change(base[field])
    inp = inputs(internal=base["internal_execs"], ctrade=base["clearing_trades"], cpositions=base["clearing_positions"],
                 sod=base["sod_positions"])
    with pytest.raises(ReconError, match=re.escape(message)) as exc:
        reconcile(inp)
    assert field in str(exc.value)


def test_reconcile_when_trade_date_has_no_settlement_date_then_fails_closed() -> None:
    with pytest.raises(ReconError, match="no settlement date"):
        reconcile(inputs(ctrade=ctrades([fill("1")]), settle_dates={}))


def test_break_ids_when_reconciled_twice_then_identical() -> None:
    a = _consistent([fill("1"), fill("2", ts=T0 + 5)], [fill("2", qty=300)])
    b = _consistent([fill("1"), fill("2", ts=T0 + 5)], [fill("2", qty=300)])
    pd.testing.assert_frame_equal(a.breaks, b.breaks)
    assert a.breaks["break_id"].is_unique
