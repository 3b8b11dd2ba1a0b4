"""The break-type enum, its docs table and deterministic ids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from flows.recon.aging import age_business_days
from flows.recon.breaks import BREAK_INFO, BreakType, break_id, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_docs_table_when_compared_with_enum_then_in_step() -> None:
    # Regenerate with: python -m flows.recon.breaks > docs/recon_breaks.md
    assert (ROOT / "docs" / "recon_breaks.md").read_text() == markdown_table()


def test_break_types_when_listed_then_every_one_documented_and_required_ones_present() -> None:
    assert set(BREAK_INFO) == set(BreakType)
    required = {"QTY_MISMATCH", "MISSING_AT_CLEARING", "MISSING_INTERNAL", "PRICE_MISMATCH", "SIDE_MISMATCH",
                "TIMING_AFTER_CUTOFF", "CORPORATE_ACTION", "CORE_DIVERGES"}
    assert required <= {b.value for b in BreakType}
    assert all(info.meaning and info.resolution for info in BREAK_INFO.values())


def test_break_id_when_same_inputs_then_same_id_and_any_part_changes_it() -> None:
    base = break_id("2026-11-20", BreakType.QTY_MISMATCH, "PROP01|037833100")
    assert base == break_id("2026-11-20", "QTY_MISMATCH", "PROP01|037833100")
    assert len(base) == 16 and base.startswith("B")
    others = {
        break_id("2026-11-23", BreakType.QTY_MISMATCH, "PROP01|037833100"),
        break_id("2026-11-20", BreakType.CORE_DIVERGES, "PROP01|037833100"),
        break_id("2026-11-20", BreakType.QTY_MISMATCH, "PROP02|037833100"),
    }
    assert base not in others and len(others) == 3


def test_age_when_holiday_and_weekend_between_then_counts_sessions_only() -> None:
    # Thanksgiving 2026-11-26 is closed; 11-28/29 a weekend.
    ages = age_business_days(pd.Series(["2026-11-20", "2026-11-25", "2026-11-27", "2026-11-30"]), "2026-11-30")
    assert ages.tolist() == [5, 2, 1, 0]


def test_age_when_no_breaks_then_empty() -> None:
    assert age_business_days(pd.Series([], dtype="str"), "2026-11-30").tolist() == []
