"""Buying power: min(clearing, 15c3-1 haircut capacity) − reserve; restrictive (0) on missing inputs."""

from __future__ import annotations

from decimal import Decimal

from core_bridge.protocol import to_fixed
from flows.clearing.bp import BpInputs, compute_bp, haircut, house_capacity, working_reserve

MARKS = {"AAPL": to_fixed("200"), "MSFT": to_fixed("400")}
ENC, TNC = Decimal("1000000"), Decimal("5000000")


def test_haircut_when_both_sides_then_15pct_greater_plus_15pct_of_lesser_excess() -> None:
    # greater 1,000,000 -> 150,000; lesser 400,000 exceeds 25 % of greater by 150,000 -> +22,500
    assert haircut(Decimal(1_000_000), Decimal(400_000), [], Decimal(10**9)) == Decimal("172500.00")


def test_haircut_when_position_concentrated_then_addon_on_excess_over_10pct_of_tnc() -> None:
    assert haircut(Decimal(600_000), Decimal(0), [Decimal(600_000)], TNC) == Decimal("105000.00")


def test_compute_bp_when_house_capacity_binds_then_available_is_capacity_share_minus_reserve() -> None:
    inputs = {"A": BpInputs(Decimal("50000000"), {"AAPL": 1000}, Decimal("10000")),
              "B": BpInputs(Decimal("50000000"), {}, Decimal(0))}
    out = compute_bp(inputs, MARKS, ENC, TNC)
    firm_h = Decimal("0.15") * 200_000
    share = (house_capacity(ENC, firm_h) / 2).quantize(Decimal("0.01"))
    assert out["A"].house_bp == share and out["A"].available == share - 10000 and out["A"].status == "ok"
    assert out["B"].available == share


def test_compute_bp_when_clearing_binds_then_available_is_clearing_bp() -> None:
    out = compute_bp({"A": BpInputs(Decimal("1000.50"), {}, Decimal(0))}, MARKS, ENC, TNC)
    assert out["A"].available == Decimal("1000.50")


def test_compute_bp_when_balances_missing_then_restrictive_zero() -> None:
    out = compute_bp({"A": BpInputs(None, {}, Decimal(0)), "B": BpInputs(Decimal(10**6), {}, Decimal(0))},
                     MARKS, ENC, TNC)
    assert (out["A"].available, out["A"].status) == (Decimal("0.00"), "restrictive")
    assert out["B"].status == "ok" and out["B"].available > 0


def test_compute_bp_when_mark_missing_or_positions_unknown_then_every_account_fails_closed() -> None:
    out = compute_bp({"A": BpInputs(Decimal(10**6), {"ZZZZ": 5}, Decimal(0)),
                      "B": BpInputs(Decimal(10**6), None, Decimal(0))}, MARKS, ENC, TNC)
    assert {r.status for r in out.values()} == {"restrictive"}
    assert {r.available for r in out.values()} == {Decimal("0.00")}


def test_working_reserve_when_detail_missing_but_orders_working_then_unknown() -> None:
    assert working_reserve(None, 3) is None
    assert working_reserve(None, 0) == {}
    assert working_reserve([{"account": "A", "leaves_qty": 100, "price": "10.5"}], 1) == {"A": Decimal("1050.0")}
