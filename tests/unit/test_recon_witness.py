"""The drop copy as end-of-day recon's third witness: which source disagreed, table-driven."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from flows.recon.frames import EXEC_COLUMNS, conform
from flows.recon.intraday import DROPCOPY_COLUMNS
from flows.recon.witness import verdicts, with_witness

J = {"exec_id": "1", "order_id": "1", "account": "PROP01", "cusip": "037833100", "symbol": "AAPL", "side": 1,
     "qty": 100, "price": 2_300_000, "ts_ns": 1, "trade_date": "2026-11-20"}
DC = {"exec_id": "1", "order_id": "1", "account": "PROP01", "clearing_account": "3PX00101", "symbol": "AAPL",
      "side": 1, "qty": 100, "price": 2_300_000, "ts_ns": 2, "state": "new"}


def _f(rows: list[dict[str, Any]], cols: dict[str, Any]) -> pd.DataFrame:
    return conform(pd.DataFrame(rows, columns=list(cols)), cols, "t")


CASES = [
    ("eod_file_wrong", "QTY_MISMATCH", [J], [J | {"qty": 1000}], [DC], "EOD file disagrees (drop copy = journal)"),
    ("journal_wrong", "QTY_MISMATCH", [J], [J | {"qty": 1000}], [DC | {"qty": 1000}],
     "journal disagrees (drop copy = EOD file)"),
    ("all_differ", "PRICE_MISMATCH", [J], [J | {"price": 1}], [DC | {"price": 2}], "drop copy disagrees with both"),
    ("missing_in_eod", "MISSING_AT_CLEARING", [J], [], [DC], "EOD file disagrees (drop copy = journal)"),
    ("no_witness", "MISSING_AT_CLEARING", [J], [], [DC | {"exec_id": "9"}], "no drop copy of this execution"),
    ("busted", "MISSING_AT_CLEARING", [J], [], [DC | {"state": "busted"}], "busted by the clearer (150=H)"),
    ("corrected", "QTY_MISMATCH", [J], [J | {"qty": 1000}], [DC | {"qty": 1000, "state": "corrected"}],
     "journal disagrees (drop copy = EOD file) after a 150=G correction"),
    ("position_break", "CORE_DIVERGES", [J], [J], [DC], ""),
]


@pytest.mark.parametrize(("name", "btype", "j", "c", "d", "want"), CASES, ids=[c[0] for c in CASES])
def test_verdict_when_case_then_names_the_source_that_disagreed(name: str, btype: str, j: list[dict[str, Any]],
                                                               c: list[dict[str, Any]], d: list[dict[str, Any]],
                                                               want: str) -> None:
    breaks = pd.DataFrame({"btype": [btype], "exec_id": ["1"], "detail": ["x"]})
    v = verdicts(breaks, _f(j, EXEC_COLUMNS), _f(c, EXEC_COLUMNS), _f(d, DROPCOPY_COLUMNS))
    assert v.tolist() == [("drop copy: " + want) if want else ""]
    out = with_witness(breaks, _f(j, EXEC_COLUMNS), _f(c, EXEC_COLUMNS), _f(d, DROPCOPY_COLUMNS))
    assert out["detail"].tolist() == [("x; drop copy: " + want) if want else "x"]


def test_verdict_when_no_drop_copy_taken_then_breaks_unchanged() -> None:
    breaks = pd.DataFrame({"btype": ["QTY_MISMATCH"], "exec_id": ["1"], "detail": ["x"]})
    assert with_witness(breaks, _f([J], EXEC_COLUMNS), _f([J], EXEC_COLUMNS), pd.DataFrame()) is breaks
