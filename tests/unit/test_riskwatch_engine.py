"""Trip decisions: confirmation, stale readings, gaps, cool-down, no resume; and the book's readings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core_bridge.protocol import PRICE_SCALE, EventType, KillLevel, KillScope, Side, Venue, new_events
from core_bridge.reasons import ReasonCode
from core_bridge.riskwatch.engine import Engine
from core_bridge.riskwatch.metrics import RiskBook
from core_bridge.riskwatch.rules import Rule, parse_rules

S = None  # a stale reading: not used


def engine_for(**rule: Any) -> tuple[Engine, Rule]:
    base = {"name": "r", "metric": "reject_rate", "scope": "account", "key": "*", "comparison": ">",
            "threshold": 10, "confirm_readings": 3, "action": "CANCEL_ONLY", "cooldown_s": 60}
    r = {k: v for k, v in (base | rule).items() if v is not None}
    rs = parse_rules({"approver": "a", "reason": "b", "settings": {"telemetry_max_age_s": 3}, "rule": [r]})
    return Engine(rs), rs.rules[0]


def run(eng: Engine, rule: Rule, readings: list[tuple[float, float | None]]) -> list[float]:
    """Feed (time, value) readings for key PROP01; the times at which a trip came out."""
    out = []
    for t, v in readings:
        trip = eng.observe(rule, "PROP01", None if v is None else Decimal(str(v)), t)
        if trip is not None:
            assert trip.level >= KillLevel.REDUCE_ONLY and trip.key == "PROP01"
            out.append(t)
    return out


def ticks(values: list[float | None], start: float = 0.0, step: float = 0.5) -> list[tuple[float, float | None]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("name", "rule", "readings", "trips_at"),
    [
        ("single spike", {}, ticks([1, 99, 1, 1, 99, 1]), []),
        ("N-1 confirmations", {}, ticks([99, 99, 1, 99, 99]), []),
        ("N confirmations", {}, ticks([99, 99, 99]), [1.0]),
        ("stale readings neither confirm nor break", {}, ticks([99, S, 99, S, S, 99]), [2.5]),
        ("only stale readings", {}, ticks([S, S, S, S, S, S]), []),
        ("a stale spike among normal readings", {}, ticks([1, S, 1, S, 1]), []),
        ("a telemetry gap breaks the streak", {}, [(0, 99), (0.5, 99), (10, 99), (10.5, 99)], []),
        ("after a gap it confirms afresh", {}, [(0, 99), (0.5, 99), (10, 99), (10.5, 99), (11, 99)], [11]),
        ("comparison below", {"metric": "pnl", "comparison": "<", "threshold": "-1000"},
         ticks([-5000, -5000, -999, -5000, -5000, -5000]), [2.5]),
        ("at the threshold with >", {}, ticks([10, 10, 10, 10]), []),
        ("at the threshold with >=", {"comparison": ">="}, ticks([10, 10, 10]), [1.0]),
        ("window not yet covered", {"confirm_readings": None, "confirm_window_s": 2}, ticks([99, 99, 99, 99]), []),
        ("window covered", {"confirm_readings": None, "confirm_window_s": 2}, ticks([99, 99, 99, 99, 99]), [2.0]),
        ("window broken by a normal reading", {"confirm_readings": None, "confirm_window_s": 2},
         ticks([99, 99, 99, 1, 99, 99, 99, 99]), []),
        ("window across a gap", {"confirm_readings": None, "confirm_window_s": 2}, [(0, 99), (5, 99)], []),
        ("cool-down holds the second trip", {"cooldown_s": 10}, ticks([99] * 12), [1.0]),
        ("after the cool-down a lasting breach trips again", {"cooldown_s": 2}, ticks([99] * 12), [1.0, 3.0, 5.0]),
        ("cool-down zero: every confirmation trips", {"cooldown_s": 0}, ticks([99] * 6), [1.0, 2.5]),
    ],
)
def test_observe_when_readings_come_then_trips_exactly_as_confirmed(name: str, rule: dict[str, Any],
                                                                    readings: list[tuple[float, float | None]],
                                                                    trips_at: list[float]) -> None:
    eng, r = engine_for(**rule)
    assert run(eng, r, readings) == trips_at, name


def test_trip_when_made_then_reason_carries_rule_readings_scope_and_consequence() -> None:
    eng, r = engine_for(cancel_all=True)
    trips = [t for v in (50, 60, 70) if (t := eng.observe(r, "PROP01", Decimal(v), v / 100)) is not None]
    assert len(trips) == 1
    trip = trips[0]
    text = trip.reason()
    assert "riskwatch rule r:" in text and "account PROP01" in text and "[50, 60, 70]" in text
    assert "CANCEL_ONLY + cancel-all" in text and "no automatic resume" in text
    assert trip.to_json()["readings"] == [{"at_s": 0.5, "value": "50"}, {"at_s": 0.6, "value": "60"},
                                          {"at_s": 0.7, "value": "70"}]
    assert trip.idempotency_key() == trip.idempotency_key()


def test_engine_when_values_return_to_normal_then_nothing_resumes() -> None:
    eng, r = engine_for(cooldown_s=0)
    got = [eng.observe(r, "PROP01", Decimal(v), i * 0.5) for i, v in enumerate([99, 99, 99, 1, 1, 1, 1])]
    trips = [t for t in got if t is not None]
    assert len(trips) == 1 and trips[0].level is KillLevel.CANCEL_ONLY  # and no decision to lower it, ever
    assert eng.rule_states(3.5)[0]["state"] == "tripped"


def test_rule_states_when_confirming_and_cooling_then_shown() -> None:
    eng, r = engine_for(cooldown_s=30)
    eng.observe(r, "PROP01", Decimal(99), 0)
    st = eng.rule_states(0)[0]
    assert (st["rule"], st["key"], st["state"], st["confirming"]) == ("r", "PROP01", "confirming", "1/3")
    eng.observe(r, "PROP01", Decimal(99), 0.5)
    eng.observe(r, "PROP01", Decimal(99), 1.0)
    eng.observe(r, "PROP01", Decimal(1), 1.5)
    st = eng.rule_states(2.0)[0]
    assert st["state"] == "cooling_down" and st["trips"] == 1 and 0 < st["cooldown_left_s"] <= 30


def test_evaluate_when_key_is_star_then_each_key_is_judged_alone() -> None:
    eng, _ = engine_for()
    values = {"PROP01": Decimal(99), "PROP02": Decimal(1)}
    trips = []
    for i in range(3):
        trips += eng.evaluate(lambda m, s, k, now, why: values[str(k)], lambda s, now: sorted(values), i * 0.5)
    assert [(t.key, t.scope) for t in trips] == [("PROP01", KillScope.ACCOUNT)]


def test_load_when_a_rule_is_unchanged_then_its_state_is_kept() -> None:
    eng, r = engine_for()
    eng.observe(r, "PROP01", Decimal(99), 0)
    eng.observe(r, "PROP01", Decimal(99), 0.5)
    eng.load(eng.rules)
    assert eng.observe(r, "PROP01", Decimal(99), 1.0) is not None
    changed, r2 = engine_for(threshold=20)
    eng.load(changed.rules)
    assert eng.states == {}


def test_failsafe_when_heartbeat_is_older_than_allowed_then_stale() -> None:
    assert Engine.failsafe_state(Decimal("2.9"), 3.0) == "ok"
    assert Engine.failsafe_state(Decimal("3.1"), 3.0) == "telemetry_stale"


# --- the book -----------------------------------------------------------------------------------------------


def events(*rows: tuple[EventType, str, str, Side, int, str, ReasonCode]) -> Any:
    recs = new_events(len(rows))
    for i, (etype, acct, sym, side, qty, px, reason) in enumerate(rows):
        recs[i]["seq"], recs[i]["epoch"], recs[i]["etype"], recs[i]["side"] = i + 1, 1, etype, side
        recs[i]["account"], recs[i]["symbol"], recs[i]["venue"] = acct.encode(), sym.encode(), Venue.NSDQ
        recs[i]["last_qty"], recs[i]["last_px"], recs[i]["reason"] = qty, int(Decimal(px) * PRICE_SCALE), reason
    return recs


def seeded_book(now: float = 100.0) -> RiskBook:
    book = RiskBook(rate_window_s=5, mark_max_age_s=5, started_s=now)
    book.on_telemetry(b"pos", {"positions": {"PROP01": {"AAPL": 100}}}, now)
    book.on_telemetry(b"marks", {"marks": {"AAPL": "200", "MSFT": "400"}}, now)
    return book


def test_book_when_fills_and_marks_come_then_pnl_and_exposure_follow_average_cost() -> None:
    book = seeded_book()
    F, OK = EventType.ORDER_FILLED, ReasonCode.OK
    book.on_records(events((F, "PROP01", "AAPL", Side.BUY, 100, "210", OK),  # 200 @ avg 205
                           (F, "PROP01", "AAPL", Side.SELL, 50, "215", OK),  # realizes 50 x 10
                           (F, "PROP01", "MSFT", Side.SHORT, 10, "400", OK)), 101.0)
    acct, firm = KillScope.ACCOUNT, KillScope.FIRM
    assert book.reading("realized_pnl", acct, "PROP01", 101.0) == Decimal(500)
    assert book.reading("unrealized_pnl", acct, "PROP01", 101.0) == Decimal(150 * (200 - 205))
    assert book.reading("pnl", firm, None, 101.0) == Decimal(500 - 750)
    assert book.reading("gross_exposure", acct, "PROP01", 101.0) == Decimal(150 * 200 + 10 * 400)
    assert book.reading("net_exposure", acct, "PROP01", 101.0) == Decimal(150 * 200 - 10 * 400)
    assert book.reading("concentration", acct, "PROP01", 101.0) == Decimal(30000) / Decimal(34000)
    assert book.reading("fill_rate", KillScope.SYMBOL, "AAPL", 101.0) == Decimal("0.4")


def test_book_when_a_mark_is_stale_then_marked_readings_are_not_given() -> None:
    book = seeded_book(now=100.0)
    assert book.reading("gross_exposure", KillScope.ACCOUNT, "PROP01", 104.0) == Decimal(20000)
    assert book.reading("gross_exposure", KillScope.ACCOUNT, "PROP01", 106.0) is None
    assert book.reading("unrealized_pnl", KillScope.FIRM, None, 106.0) is None
    assert book.reading("realized_pnl", KillScope.FIRM, None, 106.0) == Decimal(0)  # needs no mark
    book.on_telemetry(b"marks", {"marks": {"AAPL": "0"}}, 106.0)  # a non-positive mark is not taken
    assert book.reading("gross_exposure", KillScope.ACCOUNT, "PROP01", 106.0) is None


def test_book_when_not_seeded_then_book_figures_give_no_reading() -> None:
    book = RiskBook(started_s=0.0)
    assert book.reading("pnl", KillScope.FIRM, None, 1.0) is None
    assert book.reading("heartbeat_age", KillScope.FIRM, None, 2.5) == Decimal("2.5")
    book.on_telemetry(b"hb", {"node": "primary"}, 2.0)
    assert book.reading("heartbeat_age", KillScope.FIRM, None, 2.5) == Decimal("0.5")


def test_book_when_rejects_come_then_rates_by_scope_and_reason_over_the_window() -> None:
    book = seeded_book()
    R, N = EventType.ORDER_REJECTED, EventType.ORDER_NEW
    collar, ok = ReasonCode.LIMIT_PRICE_COLLAR, ReasonCode.OK
    book.on_records(events(*[(R, "PROP02", "AAPL", Side.BUY, 0, "0", collar)] * 20,
                           *[(N, "PROP01", "MSFT", Side.BUY, 0, "0", ok)] * 10), 100.2)
    acct = KillScope.ACCOUNT
    assert book.reading("reject_rate", acct, "PROP02", 100.5) == Decimal(4)
    assert book.reading("reject_rate", acct, "PROP02", 100.5, "LIMIT_PRICE_COLLAR") == Decimal(4)
    assert book.reading("reject_rate", acct, "PROP02", 100.5, "BP_INSUFFICIENT") == Decimal(0)
    assert book.reading("reject_rate", acct, "PROP01", 100.5) == Decimal(0)
    assert book.reading("order_rate", KillScope.FIRM, None, 100.5) == Decimal(6)
    assert book.reading("order_rate", KillScope.VENUE, "NSDQ", 100.5) == Decimal(6)
    assert book.keys(acct, 100.5) == ["PROP01", "PROP02"]
    snap = book.snapshot(100.5)
    assert snap["accounts"]["PROP02"]["rejects_by_reason"] == {"LIMIT_PRICE_COLLAR": "4"}
    assert book.reading("order_rate", KillScope.FIRM, None, 107.0) == Decimal(0)  # out of the window
