"""CAT event builders: every lifecycle yields exactly the events the spec requires, with exact field values."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import orjson
import pytest

from core_bridge.protocol import EVENT_DTYPE, Side, TimeInForce, Venue
from core_bridge.reasons import ReasonCode
from hw.cat_twin.lifecycles import DayScript, mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.events import build_records
from reports.cat.rules import cross_check
from reports.cat.schema import parse_record, schema_errors
from reports.errors import CatBuildError

DAY = dt.date(2026, 11, 20)
CFG = CatConfig()
NOW = 2_000_000_000_000_000_000


def by_symbol(records: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in records:
        out[r["symbol"]].append(r["type"])
    return out


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("AAPL", ["MENO", "MEOR", "MECR", "MEOC"]),  # partial fill then firm cancel of the rest
        ("JPM", ["MENO", "MEOR", "MEOM", "MEMR"]),  # short sale, replaced, filled
        ("SPY", ["MENO", "MEOR"]),  # venue rejected the new order (routeRejectedFlag)
        ("MSFT", ["MENO", "MEOR"]),  # IOC market order expired: no cancel events
        ("XOM", ["MENO", "MENOS", "MEOR"]),  # FDID pending; DAY expiry: no cancel events
        ("TSLA", ["MENO", "MEOC"]),  # risk gate reject: never routed
        ("INTC", ["MENO", "MEOR", "MEMR", "MECR", "MEOC"]),  # venue rejected the replace, then cancel_all
    ],
)
def test_build_when_lifecycle_then_exactly_its_cat_events(symbol: str, expected: list[str]) -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    assert by_symbol(recs)[symbol] == expected


def test_build_when_orders_fill_at_exchange_then_no_meot_meof_or_meoa() -> None:
    recs = build_records(mixed_day(DAY, repeats=3), ACCOUNTS_BY_ID, CFG)
    assert {r["type"] for r in recs}.isdisjoint({"MEOT", "MEOF", "MEOA", "MEIR"})
    assert len(recs) == 3 * 22


def test_build_when_mixed_day_then_every_record_passes_finra_schema_and_cross_rules() -> None:
    recs = build_records(mixed_day(DAY, repeats=2), ACCOUNTS_BY_ID, CFG)
    for r in recs:
        line = orjson.dumps(r)
        assert len(line) <= 8190
        assert schema_errors(parse_record(line)) == [], line
    assert cross_check([orjson.loads(orjson.dumps(r)) for r in recs], CFG.imid, NOW) == []


def _first(recs: list[dict], etype: str, symbol: str) -> dict:
    return orjson.loads(orjson.dumps(next(r for r in recs if r["type"] == etype and r["symbol"] == symbol)))


def test_build_when_mixed_day_then_field_values_follow_the_spec() -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    meno = _first(recs, "MENO", "JPM")
    assert meno["side"] == "SS" and meno["orderType"] == "LMT" and meno["timeInForce"] == {"DAY": 20261120}
    assert meno["deptType"] == "T" and meno["accountHolderType"] == "P" and meno["representativeInd"] == "N"
    assert meno["firmDesignatedID"] == "PROPMM01" and meno["manualFlag"] is False
    assert meno["tradingSession"] == "REG" and meno["quantity"] == 300
    assert _first(recs, "MENO", "MSFT")["side"] == "SX"
    assert _first(recs, "MENO", "SPY")["side"] == "SL"
    mkt = _first(recs, "MENO", "MSFT")
    assert "price" not in mkt and mkt["orderType"] == "MKT" and mkt["timeInForce"] == {"IOC": True}
    assert _first(recs, "MENO", "XOM")["firmDesignatedID"] == "PENDING"
    assert _first(recs, "MENOS", "XOM")["firmDesignatedID"] == "PROPNEW04"
    for r in recs:
        assert None not in r.values() and "" not in r.values()


def test_build_when_price_has_four_decimals_then_line_carries_exact_decimal_literal() -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    spy = next(r for r in recs if r["type"] == "MENO" and r["symbol"] == "SPY")
    line = orjson.dumps(spy)
    assert b'"price":570.0001,' in line and b'"quantity":100,' in line
    aapl = orjson.dumps(next(r for r in recs if r["type"] == "MENO" and r["symbol"] == "AAPL"))
    assert b'"price":230.05,' in aapl


def test_build_when_routed_then_meor_carries_what_went_to_the_venue() -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    meor = _first(recs, "MEOR", "AAPL")
    assert meor["destinationType"] == "E" and meor["destination"] == "NSDQ" and meor["session"] == "OUCH01"
    assert meor["routedOrderID"] == "500001" and meor["senderIMID"] == "999001:CLOP"
    assert meor["routeRejectedFlag"] is False and meor["isoInd"] == "NA"
    assert _first(recs, "MEOR", "SPY")["routeRejectedFlag"] is True
    assert _first(recs, "MEOR", "JPM")["destination"] == "NYSE"


def test_build_when_replaced_with_new_token_then_meom_and_memr_link_prior_ids() -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    meno, meor = _first(recs, "MENO", "JPM"), _first(recs, "MEOR", "JPM")
    meom, memr = _first(recs, "MEOM", "JPM"), _first(recs, "MEMR", "JPM")
    assert meom["priorOrderID"] == meno["orderID"] and meom["priorOrderKeyDate"] == meno["orderKeyDate"]
    assert meom["orderID"] != meno["orderID"] and meom["price"] == 210.2 and meom["leavesQty"] == 300
    assert memr["orderID"] == meom["orderID"] and memr["priorRoutedOrderID"] == meor["routedOrderID"]
    assert memr["routedOrderID"] != meor["routedOrderID"] and memr["dupROIDCond"] is False
    assert memr["session"] == meor["session"]


def test_build_when_venue_rejects_replace_then_no_meom_and_memr_flagged_on_old_order() -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    meno, memr = _first(recs, "MENO", "INTC"), _first(recs, "MEMR", "INTC")
    assert memr["routeRejectedFlag"] is True and memr["orderID"] == meno["orderID"]


def test_build_when_partial_fill_then_cancel_carries_remaining_quantity() -> None:
    recs = build_records(mixed_day(DAY), ACCOUNTS_BY_ID, CFG)
    meoc, mecr = _first(recs, "MEOC", "AAPL"), _first(recs, "MECR", "AAPL")
    assert (meoc["cancelQty"], meoc["leavesQty"], meoc["initiator"]) == (300, 0, "F")
    assert mecr["cancelQty"] == 300 and mecr["routedOrderID"] == "500001" and "leavesQty" not in mecr
    assert mecr["eventTimestamp"] < meoc["eventTimestamp"]  # route cancel sent, then order cancelled


def test_build_when_replace_keeps_routed_id_then_memr_sets_dup_roid_cond() -> None:
    s = DayScript(DAY)
    a = s.new("AAPL", Side.BUY, 100, "230")
    rid = s.route(a, Venue.NSDQ)
    s.ack(a)
    b = s.replace(a, 50, "230", with_route=False)
    s.rows[-1]["routed_id"] = rid  # the venue modifies in place: same routed id
    s.ack(b)
    recs = build_records(s.events(), ACCOUNTS_BY_ID, CFG)
    memr = next(r for r in recs if r["type"] == "MEMR")
    assert memr["dupROIDCond"] is True and "priorRoutedOrderID" not in memr


def test_build_when_replace_goes_out_as_its_own_route_then_that_route_is_a_memr() -> None:
    s = DayScript(DAY)
    a = s.new("KO", Side.SELL, 100, "65")
    s.route(a, Venue.NYSE)
    s.ack(a)
    b = s.replace(a, 100, "65.01", with_route=False)
    s.route(b, Venue.NYSE)
    s.ack(b)
    recs = build_records(s.events(), ACCOUNTS_BY_ID, CFG)
    assert [r["type"] for r in recs] == ["MENO", "MEOR", "MEOM", "MEMR"]
    assert recs[3]["priorRoutedOrderID"] == recs[1]["routedOrderID"]


def test_build_when_iso_ioc_then_iso_ind_isoi() -> None:
    s = DayScript(DAY)
    a = s.new("IBM", Side.BUY, 100, "210", tif=TimeInForce.IOC, iso=True)
    s.route(a, Venue.NYSE)
    recs = build_records(s.events(), ACCOUNTS_BY_ID, CFG)
    assert recs[1]["isoInd"] == "ISOI"


def test_build_when_cancel_rejected_by_venue_then_mecr_flagged_and_no_meoc() -> None:
    s = DayScript(DAY)
    a = s.new("BAC", Side.BUY, 100, "40")
    s.route(a, Venue.NYSE)
    s.ack(a)
    s.cancel_request(a)
    s.venue_reject(a)
    s.fill(a, 100, 0)
    recs = build_records(s.events(), ACCOUNTS_BY_ID, CFG)
    assert [r["type"] for r in recs] == ["MENO", "MEOR", "MECR"]
    assert recs[2]["routeRejectedFlag"] is True


def test_build_when_risk_reject_policy_none_then_nothing_reported() -> None:
    s = DayScript(DAY)
    s.new("TSLA", rejected=True)
    assert build_records(s.events(), ACCOUNTS_BY_ID, CatConfig(risk_reject_policy="none")) == []


def test_build_when_venue_or_expiry_cancel_then_no_cancel_events() -> None:
    s = DayScript(DAY)
    a = s.new("PFE", Side.BUY, 100, "27")
    s.route(a, Venue.NYSE)
    s.ack(a)
    s.cancel(a, ReasonCode.VENUE_CANCELLED, request=False)
    assert [r["type"] for r in build_records(s.events(), ACCOUNTS_BY_ID, CFG)] == ["MENO", "MEOR"]


def test_build_when_unknown_account_then_error_names_the_event() -> None:
    s = DayScript(DAY)
    s.new("AAPL", account="NOPE")
    with pytest.raises(CatBuildError, match="seq 1.*unknown account 'NOPE'"):
        build_records(s.events(), ACCOUNTS_BY_ID, CFG)


def test_build_when_same_events_twice_then_firm_roe_ids_identical_and_unique() -> None:
    ev = mixed_day(DAY, repeats=2)
    a = [r["firmROEID"] for r in build_records(ev, ACCOUNTS_BY_ID, CFG)]
    b = [r["firmROEID"] for r in build_records(ev.copy(), ACCOUNTS_BY_ID, CFG)]
    assert a == b and len(set(a)) == len(a) and all(x.startswith("20261120_") for x in a)


def test_build_when_events_not_in_seq_order_then_output_same_as_sorted() -> None:
    ev = mixed_day(DAY)
    shuffled = ev[::-1].copy()
    assert shuffled.dtype == EVENT_DTYPE
    got = orjson.dumps(build_records(shuffled, ACCOUNTS_BY_ID, CFG))
    assert got == orjson.dumps(build_records(ev, ACCOUNTS_BY_ID, CFG))
