"""The pure pre-trade gate, table by table."""

from __future__ import annotations

from collections import deque

import pytest

from core_bridge.protocol import KillLevel, KillScope, OrdType, Side, Venue, to_fixed
from core_bridge.reasons import ReasonCode
from hw.twin.risk import Limits, OrderTerms, RiskInputs, check_new, check_replace, effective_level, reduces_position
from hw.twin.state import DEFAULT_LIMITS

NOW = 1_800_000_000_000_000_000
AAPL = to_fixed("230.00")


def inputs(**limits: int | str) -> RiskInputs:
    r = RiskInputs()
    r.firm_limits = Limits.compile({**DEFAULT_LIMITS, **limits})
    r.ref_price = {"AAPL": AAPL, "MSFT": to_fixed("420.00")}
    r.bp = {"PROP01": to_fixed("10000000"), "PROP02": to_fixed("10000000")}
    r.locates = {"AAPL": 1000}
    return r


def order(side: Side = Side.BUY, qty: int = 100, price: str | None = "229.00", account: str = "PROP01",
          symbol: str = "AAPL", venue: Venue = Venue.NSDQ) -> OrderTerms:
    return OrderTerms(account, symbol, side, qty, 0 if price is None else to_fixed(price),
                      OrdType.MARKET if price is None else OrdType.LIMIT, venue)


def set_kill(r: RiskInputs, scope: KillScope, level: KillLevel) -> None:
    if scope is KillScope.FIRM:
        r.kill_firm = level
    else:
        key = {KillScope.ACCOUNT: "PROP01", KillScope.SYMBOL: "AAPL", KillScope.VENUE: "NSDQ"}[scope]
        r.kill[scope][key] = level


def test_check_new_when_everything_in_bounds_then_ok() -> None:
    assert check_new(inputs(), order(), NOW) is ReasonCode.OK


# Kill level table: scope x level x order kind (a flat position, so REDUCE_ONLY blocks any new order).
KILL_EXPECT = {
    KillLevel.ACTIVE: ReasonCode.OK,
    KillLevel.REDUCE_ONLY: ReasonCode.KILL_REDUCE_ONLY,
    KillLevel.CANCEL_ONLY: ReasonCode.KILL_CANCEL_ONLY,
    KillLevel.HALTED: ReasonCode.KILL_HALTED,
}


@pytest.mark.parametrize("scope", list(KillScope))
@pytest.mark.parametrize("level", list(KillLevel))
@pytest.mark.parametrize("kind", ["new", "replace"])
def test_gate_when_kill_level_set_on_scope_then_blocks_exactly_per_level(scope: KillScope, level: KillLevel,
                                                                         kind: str) -> None:
    r = inputs()
    set_kill(r, scope, level)
    if kind == "new":
        rc = check_new(r, order(), NOW)
    else:
        r.add_working("PROP01", "AAPL", Side.BUY, 100, to_fixed("229.00"))
        rc = check_replace(r, order(price="229.50"), old_leaves=100, old_price=to_fixed("229.00"), filled=0,
                           now_ns=NOW)
    assert rc is KILL_EXPECT[level]


@pytest.mark.parametrize("scope", [KillScope.ACCOUNT, KillScope.SYMBOL, KillScope.VENUE])
def test_gate_when_other_key_of_scope_killed_then_order_passes(scope: KillScope) -> None:
    r = inputs()
    r.kill[scope] = {{KillScope.ACCOUNT: "PROP02", KillScope.SYMBOL: "MSFT", KillScope.VENUE: "NYSE"}[scope]:
                     KillLevel.HALTED}
    assert check_new(r, order(), NOW) is ReasonCode.OK


def test_effective_level_when_several_scopes_set_then_most_restrictive_wins() -> None:
    r = inputs()
    r.kill_firm = KillLevel.REDUCE_ONLY
    r.kill[KillScope.VENUE]["NSDQ"] = KillLevel.CANCEL_ONLY
    r.kill[KillScope.SYMBOL]["AAPL"] = KillLevel.ACTIVE
    assert effective_level(r, "PROP01", "AAPL", Venue.NSDQ) is KillLevel.CANCEL_ONLY
    assert effective_level(r, "PROP01", "AAPL", Venue.NYSE) is KillLevel.REDUCE_ONLY


def test_gate_when_halted_from_unknown_state_then_reason_is_kill_state_unknown() -> None:
    r = inputs()
    r.kill_firm = KillLevel.HALTED
    r.state_unknown = True
    assert check_new(r, order(), NOW) is ReasonCode.KILL_STATE_UNKNOWN


@pytest.mark.parametrize(
    ("position", "reducing_working", "delta", "ok"),
    [
        (500, 0, -200, True),  # sell part of a long
        (500, 0, -500, True),  # flatten
        (500, 0, -600, False),  # would cross through zero
        (500, -400, -200, False),  # with the working sell it would cross
        (500, 0, 100, False),  # adds to the long
        (-300, 0, 300, True),  # buy back a short
        (-300, 0, 400, False),
        (0, 0, 100, False),  # flat: nothing reduces
        (0, 0, -100, False),
    ],
)
def test_reduces_position_table(position: int, reducing_working: int, delta: int, ok: bool) -> None:
    assert reduces_position(position, reducing_working, delta) is ok


@pytest.mark.parametrize(
    ("position", "side", "qty", "expect"),
    [
        (500, Side.SELL, 200, ReasonCode.OK),
        (500, Side.SELL, 600, ReasonCode.KILL_REDUCE_ONLY),
        (500, Side.BUY, 100, ReasonCode.KILL_REDUCE_ONLY),
        (-500, Side.BUY, 500, ReasonCode.OK),
        (-500, Side.SHORT, 100, ReasonCode.KILL_REDUCE_ONLY),
    ],
)
def test_gate_when_reduce_only_then_only_position_reducing_orders_pass(position: int, side: Side, qty: int,
                                                                       expect: ReasonCode) -> None:
    r = inputs()
    r.kill_firm = KillLevel.REDUCE_ONLY
    r.positions[("PROP01", "AAPL")] = position
    assert check_new(r, order(side=side, qty=qty, price="230.00"), NOW) is expect


def test_replace_when_price_outside_collar_then_limit_price_collar() -> None:
    r = inputs()
    r.add_working("PROP01", "AAPL", Side.BUY, 100, to_fixed("229.00"))
    ok = check_replace(r, order(price="231.00"), old_leaves=100, old_price=to_fixed("229.00"), filled=0, now_ns=NOW)
    bad = check_replace(r, order(price="2300.00"), old_leaves=100, old_price=to_fixed("229.00"), filled=0,
                        now_ns=NOW)
    assert (ok, bad) == (ReasonCode.OK, ReasonCode.LIMIT_PRICE_COLLAR)


@pytest.mark.parametrize(
    ("setup", "terms", "expect"),
    [
        (lambda r: setattr(r, "mwcb_level", 1), order(), ReasonCode.HALT_MWCB),
        (lambda r: r.halts.update(AAPL="HALTED"), order(), ReasonCode.HALT_SYMBOL_HALTED),
        (lambda r: r.halts.update(AAPL="LULD_PAUSE"), order(), ReasonCode.HALT_LULD_PAUSE),
        (lambda r: r.halts.update(MSFT="HALTED"), order(), ReasonCode.OK),
        (lambda r: setattr(r, "restricted", frozenset({"AAPL"})), order(), ReasonCode.RESTRICTED_SYMBOL),
        (lambda r: None, order(side=Side.SHORT, qty=1000), ReasonCode.OK),
        (lambda r: None, order(side=Side.SHORT, qty=1100), ReasonCode.LOCATE_UNAVAILABLE),
        (lambda r: setattr(r, "locates", None), order(side=Side.SHORT), ReasonCode.LOCATE_UNKNOWN),
        (lambda r: setattr(r, "locates", None), order(side=Side.SHORT_EXEMPT), ReasonCode.OK),
        (lambda r: setattr(r, "locates", {}), order(side=Side.SELL), ReasonCode.OK),
        (lambda r: None, order(qty=10_001, price="1.00"), ReasonCode.LIMIT_MAX_QTY),
        (lambda r: None, order(price="241.51"), ReasonCode.LIMIT_PRICE_COLLAR),
        (lambda r: None, order(price="218.50"), ReasonCode.OK),
        (lambda r: None, order(price="218.49"), ReasonCode.LIMIT_PRICE_COLLAR),
        (lambda r: None, order(price=None, qty=5000), ReasonCode.LIMIT_MAX_NOTIONAL),  # 5000 x 230 > 1M
        (lambda r: None, order(symbol="ZZZZ"), ReasonCode.LIMIT_NO_REFERENCE_PRICE),
        (lambda r: r.bp.pop("PROP01"), order(), ReasonCode.BP_UNKNOWN),
        (lambda r: r.bp.update(PROP01=to_fixed("1000")), order(), ReasonCode.BP_INSUFFICIENT),
        (lambda r: r.recent.update({("PROP01", "AAPL", 1, 100, to_fixed("229.00")): NOW - 1}), order(),
         ReasonCode.LIMIT_DUPLICATE_ORDER),
        (lambda r: r.recent.update({("PROP01", "AAPL", 1, 100, to_fixed("229.00")): NOW - 10**9}), order(),
         ReasonCode.OK),
        (lambda r: r.rate.update(PROP01=deque([NOW - 10] * 2000)), order(), ReasonCode.LIMIT_ORDER_RATE),
        (lambda r: r.rate.update(PROP01=deque([NOW - 2 * 10**9] * 2000)), order(), ReasonCode.OK),
        (lambda r: r.open_notional.update(PROP01=to_fixed("9990000")), order(), ReasonCode.BP_INSUFFICIENT),
    ],
)
def test_gate_controls_table(setup, terms: OrderTerms, expect: ReasonCode) -> None:
    r = inputs()
    setup(r)
    assert check_new(r, terms, NOW) is expect


@pytest.mark.parametrize(
    ("limits", "positions", "terms", "expect"),
    [
        ({"credit_threshold": "10000"}, {}, order(), ReasonCode.LIMIT_CREDIT_THRESHOLD),
        ({"gross_exposure_cap": "100000"}, {("PROP01", "MSFT"): 300}, order(), ReasonCode.LIMIT_GROSS_EXPOSURE),
        ({"net_exposure_cap": "100000"}, {("PROP01", "MSFT"): 200}, order(), ReasonCode.LIMIT_NET_EXPOSURE),
        # a sell against a long MSFT lowers net exposure: it passes the same net cap
        ({"net_exposure_cap": "100000"}, {("PROP01", "MSFT"): 200}, order(side=Side.SELL, price="231.00"),
         ReasonCode.OK),
    ],
)
def test_gate_when_aggregate_limits_exceeded_then_rejected(limits: dict[str, str], positions: dict, terms: OrderTerms,
                                                           expect: ReasonCode) -> None:
    r = inputs(**limits)
    r.positions.update(positions)
    assert check_new(r, terms, NOW) is expect


def test_gate_when_account_override_then_it_beats_firm_limit() -> None:
    r = inputs()
    r.account_limits["PROP01"] = Limits.compile({**DEFAULT_LIMITS, "max_order_qty": 50})
    assert check_new(r, order(qty=100), NOW) is ReasonCode.LIMIT_MAX_QTY
    assert check_new(r, order(qty=100, account="PROP02"), NOW) is ReasonCode.OK


def test_replace_when_short_qty_increases_then_only_the_increase_needs_locates() -> None:
    r = inputs()
    r.locates = {"AAPL": 50}
    r.add_working("PROP01", "AAPL", Side.SHORT, 100, to_fixed("231.00"))
    same = check_replace(r, order(side=Side.SHORT, qty=100, price="231.50"), old_leaves=100,
                         old_price=to_fixed("231.00"), filled=0, now_ns=NOW)
    more = check_replace(r, order(side=Side.SHORT, qty=200, price="231.50"), old_leaves=100,
                         old_price=to_fixed("231.00"), filled=0, now_ns=NOW)
    assert (same, more) == (ReasonCode.OK, ReasonCode.LOCATE_UNAVAILABLE)


@pytest.mark.parametrize(("new_qty", "expect"), [(500, ReasonCode.OK), (600, ReasonCode.KILL_REDUCE_ONLY)])
def test_replace_when_reduce_only_then_replaced_order_not_counted_twice(new_qty: int, expect: ReasonCode) -> None:
    r = inputs()
    r.kill_firm = KillLevel.REDUCE_ONLY
    r.positions[("PROP01", "AAPL")] = 500
    r.add_working("PROP01", "AAPL", Side.SELL, 300, to_fixed("231.00"))
    rc = check_replace(r, order(side=Side.SELL, qty=new_qty, price="231.00"), old_leaves=300,
                       old_price=to_fixed("231.00"), filled=0, now_ns=NOW)
    assert rc is expect


# A flatten order (the kill-to-flat flow) passes every kill level, but only to reduce, and stays in the collar.
@pytest.mark.parametrize("level", list(KillLevel))
@pytest.mark.parametrize(("side", "qty", "price", "unknown", "expect"), [
    (Side.SELL, 300, "229.00", False, ReasonCode.OK),  # sells the whole long: reduces to zero
    (Side.SELL, 100, "229.00", False, ReasonCode.OK),
    (Side.SELL, 301, "229.00", False, ReasonCode.KILL_REDUCE_ONLY),  # would cross zero
    (Side.BUY, 100, "229.00", False, ReasonCode.KILL_REDUCE_ONLY),  # adds to the long
    (Side.SELL, 100, "200.00", False, ReasonCode.LIMIT_PRICE_COLLAR),  # 13 % through the reference
    (Side.SELL, 100, "229.00", True, ReasonCode.KILL_STATE_UNKNOWN),  # unknown state: nothing new at all
])
def test_gate_when_a_flatten_order_then_reduce_only_at_every_level(level: KillLevel, side: Side, qty: int,
                                                                   price: str, unknown: bool,
                                                                   expect: ReasonCode) -> None:
    r = inputs()
    r.positions[("PROP01", "AAPL")] = 300
    set_kill(r, KillScope.ACCOUNT, level)
    r.state_unknown = unknown
    t = OrderTerms("PROP01", "AAPL", side, qty, to_fixed(price), OrdType.LIMIT, Venue.NSDQ, flatten=True)
    assert check_new(r, t, NOW) is expect
    if level is KillLevel.HALTED and expect is ReasonCode.OK:  # the same order without the flag is refused
        assert check_new(r, order(side, qty, price), NOW) is ReasonCode.KILL_HALTED


@pytest.mark.parametrize(("extra", "problem"), [
    ({"flatten": "yes"}, "flatten must be true or false"),
    ({"flatten": True, "ord_type": "MARKET", "price": None}, "a flatten order must be a LIMIT order"),
])
def test_parse_order_when_the_flatten_field_is_wrong_then_the_field_is_named(extra: dict[str, object],
                                                                             problem: str) -> None:
    from hw.twin.orders import parse_order

    base = {"action": "new", "clordid": 1, "account": "PROP01", "symbol": "AAPL", "side": "SELL", "qty": 100,
            "price": "229.00", "ord_type": "LIMIT", "venue": "NSDQ"}
    assert parse_order({**base, "flatten": True}).flatten and not parse_order(base).flatten
    with pytest.raises(ValueError, match=problem):
        parse_order({**base, **extra})
