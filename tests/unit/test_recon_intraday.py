"""Intraday break logic, table-driven: one journal fill vs one drop-copy booking per case."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from flows.recon.breaks import BreakType, break_id
from flows.recon.frames import EXEC_COLUMNS, conform
from flows.recon.intraday import DROPCOPY_COLUMNS, NS, CloseReason, find_breaks, reconcile_intraday

D = "2026-11-20"
T0 = 1_795_186_000 * NS
NOW = T0 + 600 * NS
GRACE = 120 * NS
CA = {"PROP01": "3PX00101", "PROP02": "3PX00102"}


def journal(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"exec_id": "1", "order_id": "10", "account": "PROP01", "cusip": "037833100", "symbol": "AAPL",
            "side": 1, "qty": 100, "price": 2_300_000, "ts_ns": T0, "trade_date": D}
    return conform(pd.DataFrame([base | r for r in rows], columns=list(EXEC_COLUMNS)), EXEC_COLUMNS, "journal")


def booked(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"exec_id": "1", "order_id": "10", "account": "PROP01", "clearing_account": "3PX00101",
            "symbol": "AAPL", "side": 1, "qty": 100, "price": 2_300_000, "ts_ns": T0 + NS, "state": "new"}
    return conform(pd.DataFrame([base | r for r in rows], columns=list(DROPCOPY_COLUMNS)), DROPCOPY_COLUMNS, "dc")


CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], list[str]]] = [
    ("agrees", [{}], [{}], []),
    ("missing_at_clearing_beyond_grace", [{}], [], ["MISSING_AT_CLEARING"]),
    ("missing_at_clearing_within_grace", [{"ts_ns": NOW - GRACE + NS}], [], []),
    ("missing_at_core", [], [{}], ["MISSING_INTERNAL"]),
    ("missing_at_core_within_grace", [], [{"ts_ns": NOW - NS}], []),
    ("qty", [{}], [{"qty": 1000}], ["QTY_MISMATCH"]),
    ("price", [{}], [{"price": 2_300_100}], ["PRICE_MISMATCH"]),
    ("side", [{}], [{"side": -1}], ["SIDE_MISMATCH"]),
    ("account", [{}], [{"account": "PROP02", "clearing_account": "3PX00102"}], ["ACCOUNT_MISMATCH"]),
    ("clearing_account_only", [{}], [{"clearing_account": "3PX00102"}], ["ACCOUNT_MISMATCH"]),
    ("qty_and_price", [{}], [{"qty": 200, "price": 1}], ["PRICE_MISMATCH", "QTY_MISMATCH"]),
    ("busted", [{}], [{"state": "busted"}], ["BUSTED_TRADE"]),
    ("busted_with_other_qty", [{}], [{"state": "busted", "qty": 5}], ["BUSTED_TRADE"]),
    ("corrected_differs", [{}], [{"state": "corrected", "price": 2_310_000}], ["CORRECTED_TRADE"]),
    ("corrected_agrees", [{}], [{"state": "corrected"}], []),
]


@pytest.mark.parametrize(("name", "jrows", "crows", "want"), CASES, ids=[c[0] for c in CASES])
def test_find_breaks_when_case_then_types(name: str, jrows: list[dict[str, Any]], crows: list[dict[str, Any]],
                                          want: list[str]) -> None:
    got, _ = find_breaks(journal(*jrows), booked(*crows), trade_date=D, now_ns=NOW, clearing_accounts=CA,
                         grace_ns=GRACE)
    assert sorted(got["btype"]) == want
    assert set(got["exec_id"]) <= {"1"}
    for row in got.itertuples(index=False):
        assert row.break_id == break_id(D, row.btype, "1")
        assert row.age_s == (NOW - row.event_ns) // NS > 0


def test_find_breaks_when_within_grace_then_counted_pending() -> None:
    _, pending = find_breaks(journal({"ts_ns": NOW - NS}), booked({"exec_id": "2", "ts_ns": NOW - NS}),
                             trade_date=D, now_ns=NOW, clearing_accounts=CA, grace_ns=GRACE)
    assert pending == 2


def test_find_breaks_when_corrected_differs_then_detail_names_fields() -> None:
    got, _ = find_breaks(journal({}), booked({"state": "corrected", "qty": 300, "account": "PROP02",
                                              "clearing_account": "3PX00102"}),
                         trade_date=D, now_ns=NOW, clearing_accounts=CA, grace_ns=GRACE)
    assert got["detail"].tolist() == ["corrected by the clearer (150=G); differs in qty, account, clearing account"]


PRIOR = [("missing_then_booked", BreakType.MISSING_AT_CLEARING, [{}], [{}], CloseReason.LATE_BOOKING),
         ("core_caught_up", BreakType.MISSING_INTERNAL, [{}], [{}], CloseReason.JOURNAL_CAUGHT_UP),
         ("qty_corrected", BreakType.QTY_MISMATCH, [{}], [{"state": "corrected"}], CloseReason.CORRECTED_BY_CLEARER),
         ("qty_then_busted", BreakType.QTY_MISMATCH, [{}], [{"state": "busted"}], CloseReason.SUPERSEDED),
         ("price_agrees", BreakType.PRICE_MISMATCH, [{}], [{}], CloseReason.AGREES_NOW)]


@pytest.mark.parametrize(("name", "btype", "jrows", "crows", "reason"), PRIOR, ids=[p[0] for p in PRIOR])
def test_reconcile_when_prior_break_gone_then_closed_with_reason(
        name: str, btype: BreakType, jrows: list[dict[str, Any]], crows: list[dict[str, Any]],
        reason: CloseReason) -> None:
    prior = pd.DataFrame({"break_id": [break_id(D, btype, "1")], "btype": [btype.value], "exec_id": ["1"]})
    r = reconcile_intraday(journal(*jrows), booked(*crows), prior, trade_date=D, now_ns=NOW,
                           clearing_accounts=CA, grace_ns=GRACE)
    assert r.closed[["btype", "reason"]].values.tolist() == [[btype.value, reason.value]]
    assert set(r.new["break_id"]) == set(r.breaks["break_id"])


def test_reconcile_when_break_already_open_then_not_new() -> None:
    bid = break_id(D, BreakType.QTY_MISMATCH, "1")
    prior = pd.DataFrame({"break_id": [bid], "btype": ["QTY_MISMATCH"], "exec_id": ["1"]})
    r = reconcile_intraday(journal({}), booked({"qty": 7}), prior, trade_date=D, now_ns=NOW, clearing_accounts=CA,
                           grace_ns=GRACE)
    assert r.breaks["break_id"].tolist() == [bid]
    assert r.new.empty and r.closed.empty
