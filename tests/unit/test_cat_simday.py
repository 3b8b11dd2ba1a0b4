"""A simulated twin day (replaces, partial fills, cancels, venue rejects, short sales, expiries) through CAT."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from core_bridge.protocol import EventType
from core_bridge.reasons import ReasonCode
from hw.refdata import ACCOUNTS_BY_ID
from hw.twin.market import simulate_day
from reports.cat.config import CatConfig
from reports.cat.events import build_records
from reports.cat.rules import cross_check
from reports.cat.schema import parse_record, schema_errors

NOW = 2_000_000_000_000_000_000


@pytest.fixture(scope="module")
def day() -> tuple[object, list[dict]]:
    ev = simulate_day("2026-11-20", 1500, 11).events
    return ev, build_records(ev, ACCOUNTS_BY_ID, CatConfig())


def test_simulated_day_when_built_then_every_record_passes_schema_and_cross_rules(day: tuple) -> None:
    _, recs = day
    lines = [orjson.dumps(r) for r in recs]
    assert all(schema_errors(parse_record(x)) == [] for x in lines)
    assert cross_check([orjson.loads(x) for x in lines], "CLOP", NOW) == []


def test_simulated_day_when_built_then_event_counts_match_the_lifecycles(day: tuple) -> None:
    ev, recs = day
    et = Counter(ev["etype"].tolist())
    cat = Counter(r["type"] for r in recs)
    firm = (ReasonCode.CANCEL_FIRM, ReasonCode.CANCEL_CANCEL_ALL)
    firm_cancels = sum(1 for e, r in zip(ev["etype"].tolist(), ev["reason"].tolist(), strict=True)
                       if e == EventType.ORDER_CANCELLED and r in firm)
    assert set(cat) <= {"MENO", "MENOS", "MEOR", "MEMR", "MEOM", "MEOC", "MECR"}  # never MEOT / MEOF / MEOA
    assert cat["MENO"] == et[EventType.ORDER_NEW] + et[EventType.ORDER_REJECTED]
    assert cat["MEOR"] + cat["MEMR"] - cat["MEOM"] == et[EventType.ORDER_ROUTED] and cat["MEOM"] > 0
    assert cat["MEOC"] == firm_cancels + et[EventType.ORDER_REJECTED] and firm_cancels > 0
    assert cat["MECR"] <= firm_cancels and et[EventType.ORDER_EXPIRED] > 0  # expiries report nothing
    assert sum(r.get("routeRejectedFlag") is True for r in recs) >= 1
    assert {r["side"] for r in recs if r["type"] == "MENO"} >= {"B", "SL", "SS"}
    assert cat["MENOS"] == sum(1 for r in recs if r["type"] == "MENO" and r["firmDesignatedID"] == "PENDING") > 0
