"""Every rule kind end to end through the book and the engine: for each metric, N breaching readings trip
once, one spike does not, a stale mark (for a marked metric) or a telemetry gap does not confirm, the
cool-down holds and nothing resumes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from core_bridge.protocol import EventType, KillLevel, KillScope, Side
from core_bridge.reasons import ReasonCode
from core_bridge.riskwatch.engine import Engine
from core_bridge.riskwatch.metrics import RiskBook
from core_bridge.riskwatch.rules import MARKED, METRIC_SCOPES, parse_rules
from tests.unit.test_riskwatch_engine import events

Setter = Callable[[RiskBook, float], None]


def _marks(px: str) -> Setter:
    def go(book: RiskBook, t: float) -> None:
        book.on_telemetry(b"marks", {"marks": {"AAPL": px, "MSFT": "400"}}, t)
    return go


def _burst(etype: EventType, n: int, reason: ReasonCode = ReasonCode.OK) -> Setter:
    def go(book: RiskBook, t: float) -> None:
        _marks("200")(book, t)
        book.on_records(events(*[(etype, "PROP01", "AAPL", Side.BUY, 10, "200", reason)] * n), t)
    return go


def _hb(book: RiskBook, t: float) -> None:
    book.on_telemetry(b"hb", {"node": "primary"}, t)


def _no_hb(book: RiskBook, t: float) -> None:
    _marks("200")(book, t)  # telemetry goes on, but no heartbeat


# metric -> (scope, key, comparison, threshold, a breaching moment, a calm moment). The book holds PROP01
# long 100 AAPL bought at the mark 200 (and, for concentration, 5 MSFT at 400).
CASES: dict[str, tuple[str, str | None, str, Any, Setter, Setter]] = {
    "realized_pnl": ("account", "PROP01", "<", "-100", _burst(EventType.ORDER_FILLED, 0), _marks("200")),
    "unrealized_pnl": ("account", "PROP01", "<", "-1000", _marks("150"), _marks("200")),
    "pnl": ("firm", None, "<", "-1000", _marks("150"), _marks("200")),
    "gross_exposure": ("account", "PROP01", ">", "25000", _marks("300"), _marks("200")),
    "net_exposure": ("symbol", "AAPL", ">", "25000", _marks("300"), _marks("200")),
    "concentration": ("account", "PROP01", ">", "0.95", _marks("2000"), _marks("200")),
    "order_rate": ("venue", "NSDQ", ">", 10, _burst(EventType.ORDER_NEW, 100), _marks("200")),
    "reject_rate": ("account", "PROP01", ">", 10, _burst(EventType.ORDER_REJECTED, 100, ReasonCode.LIMIT_MAX_QTY),
                    _marks("200")),
    "fill_rate": ("symbol", "AAPL", ">", 10, _burst(EventType.ORDER_FILLED, 100), _marks("200")),
    "heartbeat_age": ("firm", None, ">", 2, _no_hb, _hb),
}


def _setup(metric: str) -> tuple[RiskBook, Engine]:
    scope, key, cmp, thr, _, _ = CASES[metric]
    rule: dict[str, Any] = {"name": "r", "metric": metric, "scope": scope, "comparison": cmp, "threshold": thr,
                            "confirm_readings": 3, "action": "HALTED", "cooldown_s": 30}
    if key is not None:
        rule["key"] = key
    # readings every 1 s; rates over 1 s, so a burst counts only in the reading right after it
    rules = parse_rules({"approver": "a", "reason": "b", "rule": [rule],
                         "settings": {"rate_window_s": 1, "telemetry_max_age_s": 3, "mark_max_age_s": 5}})
    book = RiskBook(rate_window_s=1, mark_max_age_s=5, started_s=0.0)
    _hb(book, 0.0)
    book.on_telemetry(b"pos", {"positions": {"PROP01": {"AAPL": 100, "MSFT": 5 if metric == "concentration"
                                                        else 0}}}, 0.0)
    _marks("200")(book, 0.0)
    if metric == "realized_pnl":  # sell 50 below cost: realized -500 on the first fill, then it stays
        book.on_records(events((EventType.ORDER_FILLED, "PROP01", "AAPL", Side.SELL, 50, "190", ReasonCode.OK)), 0.0)
    return book, Engine(rules)


def _run(metric: str, moments: list[str], start: float = 1.0, step: float = 1.0) -> list[float]:
    """Feed one moment per reading ('B' breach, 'C' calm, 'S' stale: nothing new arrives); trip times."""
    book, engine = _setup(metric)
    _, _, _, _, breach, calm = CASES[metric]
    trips: list[float] = []
    t = start
    for m in moments:
        if m in "BC":
            (breach if m == "B" else calm)(book, t - 0.5)
            if metric != "heartbeat_age":
                _hb(book, t - 0.5)
        for trip in engine.evaluate(book.reading, book.keys, t):
            assert trip.level is KillLevel.HALTED
            trips.append(t)
        t += step
    return trips


KINDS = sorted(METRIC_SCOPES)


def test_cases_when_listed_then_every_metric_is_a_case() -> None:
    assert sorted(CASES) == KINDS


@pytest.mark.parametrize("metric", KINDS)
def test_rule_kind_when_breached_n_times_then_one_trip_and_the_cooldown_holds(metric: str) -> None:
    if metric == "realized_pnl":  # realized P&L does not come back: it breaches from the first reading on
        assert _run(metric, ["B"] * 6) == [3.0]
        return
    if metric == "heartbeat_age":  # last heartbeat at 0.5 s: ages 2.5, 3.5, 4.5 s at 3, 4, 5 s breach
        assert _run(metric, ["C", "S", "S", "S", "S", "S"], step=1.0) == [5.0]
        return
    assert _run(metric, ["B", "B", "B", "B", "B", "B"]) == [3.0]  # then cooling down: no second trip


@pytest.mark.parametrize("metric", [m for m in KINDS if m not in ("realized_pnl", "heartbeat_age")])
def test_rule_kind_when_a_single_spike_then_no_trip(metric: str) -> None:
    assert _run(metric, ["C", "B", "C", "B", "C", "B", "C"]) == []


@pytest.mark.parametrize("metric", sorted(MARKED))
def test_rule_kind_when_the_mark_goes_stale_then_no_reading_confirms(metric: str) -> None:
    # two breaching readings, then the marks stop (6 s > mark_max_age_s): stale readings never make the third
    book, engine = _setup(metric)
    breach = CASES[metric][4]
    trips = []
    for t in (1.0, 2.0):
        breach(book, t - 0.5)
        _hb(book, t - 0.5)
        trips += engine.evaluate(book.reading, book.keys, t)
    for t in (8.0, 9.0, 10.0):
        _hb(book, t - 0.5)
        trips += engine.evaluate(book.reading, book.keys, t)
    assert trips == [] and engine.rule_states(10.0)[0]["state"] == "confirming"


@pytest.mark.parametrize("metric", [m for m in KINDS if m not in ("realized_pnl", "heartbeat_age")])
def test_rule_kind_when_a_telemetry_gap_splits_the_readings_then_no_trip(metric: str) -> None:
    # B B, then 10 s without readings (> telemetry_max_age_s), then B: the streak restarts at 1
    book, engine = _setup(metric)
    breach = CASES[metric][4]
    trips = []
    for t in (1.0, 2.0, 12.0):
        breach(book, t - 0.5)
        _hb(book, t - 0.5)
        trips += engine.evaluate(book.reading, book.keys, t)
    assert trips == [] and engine.rule_states(12.0)[0]["confirming"] == "1/3"


def test_rule_kind_when_tripped_and_calm_again_then_no_resume_is_ever_decided() -> None:
    book, engine = _setup("gross_exposure")
    _, _, _, _, breach, calm_down = CASES["gross_exposure"]
    out = []
    for i, m in enumerate("BBBCCCCCC"):
        t = 1.0 + i
        (breach if m == "B" else calm_down)(book, t - 0.5)
        _hb(book, t - 0.5)
        out += engine.evaluate(book.reading, book.keys, t)
    assert [tr.level for tr in out] == [KillLevel.HALTED]
    assert engine.rule_states(9.0)[0]["state"] == "cooling_down" and engine.rule_states(60.0)[0]["state"] == "tripped"
    calm = book.reading("gross_exposure", KillScope.ACCOUNT, "PROP01", 9.0)
    assert calm is not None and calm < Decimal(25000)  # calm again, and still no resume
