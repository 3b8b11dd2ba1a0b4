"""preopen-check's limits reconciliation: the approved file against the core's runtime limits; a difference
fails unless an approval (or, for a tightening, an audited change) explains it."""

from __future__ import annotations

from typing import Any

import pytest

from flows.controls.limits import reconcile_limits

APPROVED = {"firm": {"max_order_qty": 10_000, "max_order_notional": "1000000"},
            "accounts": {"PROP04": {"max_order_notional": "250000"}}}
ROLES = {"admin": "admin", "operator": "operator", "op2": "operator"}


def _snap(firm: dict[str, Any] | None = None, prop04: dict[str, Any] | None = None,
          temps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"limits": {"firm": {"max_order_qty": 10_000, "max_order_notional": "1000000", **(firm or {})},
                       "PROP04": {"max_order_notional": "250000", **(prop04 or {})}},
            "temp_limits": temps or []}


def _set(account: str | None, limits: dict[str, Any], *, approval: str | None = None, until: int | None = None,
         identity: str = "operator") -> dict[str, Any]:
    args: dict[str, Any] = {"account": account, "limits": limits, "approver": "x", "until_ns": until}
    if approval:
        args["approval"] = {"identity": approval}
    return {"command": "set_limits", "result": "ok", "identity": identity, "operator": "jdoe", "id": "r", "args": args}


@pytest.mark.parametrize(("snapshot", "audit", "severity"), [
    (_snap(), [], "ok"),
    (_snap(firm={"max_order_qty": 20_000}), [], "fail"),
    (_snap(firm={"max_order_qty": 20_000}), [_set(None, {"max_order_qty": 20_000})], "fail"),  # no approval
    (_snap(firm={"max_order_qty": 20_000}), [_set(None, {"max_order_qty": 20_000}, approval="operator")],
     "fail"),  # approved by the requester's own identity
    (_snap(firm={"max_order_qty": 20_000}), [_set(None, {"max_order_qty": 20_000}, approval="op2")],
     "fail"),  # permanent, approved by an operator, not an admin
    (_snap(firm={"max_order_qty": 20_000}), [_set(None, {"max_order_qty": 20_000}, approval="admin")], "ok"),
    (_snap(firm={"max_order_qty": 20_000}), [_set(None, {"max_order_qty": 20_000}, approval="op2", until=9)],
     "ok"),  # temporary, second identity
    (_snap(prop04={"max_order_notional": "300000"},
           temps=[{"account": "PROP04", "limits": {"max_order_notional": "300000"}, "approved_by": "admin"}]),
     [], "ok"),
    (_snap(prop04={"max_order_notional": "300000"},
           temps=[{"account": "PROP04", "limits": {"max_order_notional": "300000"}, "approved_by": None}]),
     [], "fail"),
    (_snap(firm={"max_order_qty": 5_000}), [_set(None, {"max_order_qty": 5_000})], "ok"),  # audited decrease
    (_snap(firm={"max_order_qty": 5_000}), [], "warn"),  # tighter, but nobody recorded it here
])
def test_reconcile_when_runtime_differs_then_only_an_approval_explains_a_looser_value(
        snapshot: dict[str, Any], audit: list[dict[str, Any]], severity: str) -> None:
    got = reconcile_limits(APPROVED, snapshot, audit, ROLES)
    worst = "fail" if any(f.severity == "fail" for f in got) else "warn" if any(
        f.severity == "warn" for f in got) else "ok"
    assert worst == severity, got
