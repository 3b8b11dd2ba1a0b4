"""Cross-record rules, one broken at a time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from hw.cat_twin.lifecycles import mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.events import build_records
from reports.cat.rules import cross_check

NOW = 2_000_000_000_000_000_000


def recs() -> list[dict[str, Any]]:
    return [orjson.loads(orjson.dumps(r)) for r in build_records(mixed_day(dt.date(2026, 11, 20)), ACCOUNTS_BY_ID,
                                                                  CatConfig())]


def first(rs: list[dict[str, Any]], t: str, sym: str = "AAPL") -> dict[str, Any]:
    return next(r for r in rs if r["type"] == t and r["symbol"] == sym)


def _dup_meno(rs: list[dict[str, Any]]) -> None:
    rs.append(dict(first(rs, "MENO"), firmROEID="20261120_x"))


def _orphan_route(rs: list[dict[str, Any]]) -> None:
    first(rs, "MEOR")["orderID"] = "nope"


def _dup_route(rs: list[dict[str, Any]]) -> None:
    rs.append(dict(first(rs, "MEOR"), firmROEID="20261120_y"))


def _leaves(rs: list[dict[str, Any]]) -> None:
    first(rs, "MEOM", "JPM")["leavesQty"] = 301


def _roe_date(rs: list[dict[str, Any]]) -> None:
    first(rs, "MEOC")["firmROEID"] = "20261119_1.6.1"


def _future(rs: list[dict[str, Any]]) -> None:
    first(rs, "MEOC")["eventTimestamp"] = NOW + 1


def _back_in_time(rs: list[dict[str, Any]]) -> None:
    first(rs, "MEOC")["eventTimestamp"] = first(rs, "MENO")["eventTimestamp"] - 1


@pytest.mark.parametrize(
    ("breaker", "rule"),
    [
        (_dup_meno, "order_key_unique"),
        (_orphan_route, "links_to_order"),
        (_dup_route, "route_linkage_unique"),
        (_leaves, "leaves_le_quantity"),
        (_roe_date, "firmroeid_date"),
        (_future, "timestamp_not_future"),
        (_back_in_time, "timestamps_in_order"),
    ],
)
def test_cross_check_when_rule_broken_then_finding_names_rule(breaker: Any, rule: str) -> None:
    rs = recs()
    assert cross_check(rs, "CLOP", NOW) == []
    breaker(rs)
    assert rule in {f.rule for f in cross_check(rs, "CLOP", NOW)}
