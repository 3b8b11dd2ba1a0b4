"""The one retention policy file: complete for every record kind, right periods, malformed input rejected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flows.archive.collect import KINDS
from flows.archive.policy import DEFAULT_POLICY, add_years, load_policy
from flows.errors import FileRejectedError


def test_load_when_default_policy_then_every_collected_kind_has_a_class() -> None:
    policy = load_policy()
    assert set(KINDS) <= set(policy.kinds)
    assert "retention_attestation" in policy.kinds


@pytest.mark.parametrize(
    ("kind", "years", "rule"),
    [
        ("journal_segment", 3, "17a-4(b)(1)"),  # 17a-3(a)(7) memoranda of proprietary orders
        ("sod_positions", 6, "17a-4(a)"),  # ledgers / stock record
        ("clearing_trades", 6, "17a-4(a)"),  # blotter
        ("cat_file", 3, "17a-4(b)(4)"),  # communications sent
        ("threshold_list", 3, "17a-4(b)(4)"),  # communications received
        ("control_audit", 6, "17a-4(e)(7)"),
    ],
)
def test_class_for_when_kind_given_then_period_and_rule_from_policy(kind: str, years: int, rule: str) -> None:
    cls = load_policy().class_for(kind)
    assert (cls.years, cls.rule) == (years, rule)


def test_policy_when_loaded_then_every_class_keeps_at_least_the_accessible_two_years() -> None:
    policy = load_policy()
    assert policy.accessible_years == 2
    assert all(c.years >= 2 for c in policy.classes.values())


def test_add_years_when_leap_day_then_last_day_of_february() -> None:
    assert add_years(dt.date(2024, 2, 29), 3) == dt.date(2027, 2, 28)
    assert add_years(dt.date(2026, 11, 20), 6) == dt.date(2032, 11, 20)


def _bad(tmp_path: Path, old: str, new: str) -> Path:
    p = tmp_path / "policy.toml"
    text = DEFAULT_POLICY.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("years = 6\n", "", "classes.blotters_ledgers.years"),
        ("years = 6\n", 'years = "six"\n', "classes.blotters_ledgers.years"),
        ("years = 3\n", "years = 1\n", "classes.order_memoranda.years"),
        ('journal_segment = "order_memoranda"', 'journal_segment = "nope"', "kinds.journal_segment"),
        ('rule = "17a-4(a)"', "", "classes.blotters_ledgers.rule"),
    ],
)
def test_load_when_policy_malformed_then_rejected_naming_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    with pytest.raises(FileRejectedError) as err:
        load_policy(_bad(tmp_path, old, new))
    assert err.value.field == field
    assert "policy.toml" in str(err.value)


def test_load_when_not_toml_then_rejected_naming_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("[policy\n")
    with pytest.raises(FileRejectedError, match="broken.toml"):
        load_policy(p)
