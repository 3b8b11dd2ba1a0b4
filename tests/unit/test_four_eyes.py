"""Four eyes on limit raises, the requester-side checks: which changes are raises, and every refusal of an
approval record (real CURVE keys from a temporary keyset; the MAC is real X25519 + HMAC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core_bridge.approvals import check_approval, make_approval, raised_keys, verify_mac
from core_bridge.auth import KeyRegistry, generate_keyset, server_keypair
from core_bridge.errors import ApprovalError

NOW = 1_764_000_000_000_000_000
UNTIL = NOW + 3_600_000_000_000
CHANGE = {"max_order_qty": 20_000}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    generate_keyset(d)
    return d


@pytest.mark.parametrize(("before", "change", "raised"), [
    ({"max_order_qty": 10_000}, {"max_order_qty": 20_000}, ["max_order_qty"]),
    ({"max_order_qty": 10_000}, {"max_order_qty": 10_000}, []),
    ({"max_order_qty": 10_000}, {"max_order_qty": 5_000}, []),
    ({"price_collar_pct": "5"}, {"price_collar_pct": "5.01"}, ["price_collar_pct"]),
    ({"duplicate_window_ms": 200}, {"duplicate_window_ms": 100}, ["duplicate_window_ms"]),  # shorter: looser
    ({"duplicate_window_ms": 200}, {"duplicate_window_ms": 400}, []),
    ({}, {"credit_threshold": "1"}, ["credit_threshold"]),  # a key set for the first time counts as a raise
])
def test_raised_keys_when_change_loosens_then_listed_and_decreases_never(before: dict[str, Any],
                                                                       change: dict[str, Any],
                                                                       raised: list[str]) -> None:
    assert raised_keys(before, change) == raised


def _rec(keys: Path, identity: str = "admin", until_ns: int | None = UNTIL, **kw: Any) -> dict[str, Any]:
    return make_approval(keys, identity, approver="R. Risk", account=kw.pop("account", "PROP01"),
                         limits=kw.pop("limits", CHANGE), until_ns=until_ns, reason="rebalance", now_ns=NOW, **kw)


def _check(keys: Path, rec: dict[str, Any], **kw: Any) -> None:
    args: dict[str, Any] = {"requester_identity": "operator", "account": "PROP01", "limits": CHANGE,
                            "until_ns": UNTIL, "now_ns": NOW + 1, "registry": KeyRegistry.load(keys)}
    args.update(kw)
    check_approval(rec, **args)


def test_check_when_second_identity_approved_exact_change_then_passes_and_core_mac_verifies(keys: Path) -> None:
    rec = _rec(keys)
    _check(keys, rec)
    secret = server_keypair(keys).secret
    assert secret is not None and verify_mac(rec, secret)


@pytest.mark.parametrize(("case", "field"), [
    ("same identity", "identity"),
    ("other account", "account"),
    ("other limits", "limits"),
    ("other expiry", "until_ns"),
    ("expired", "expires_ns"),
    ("permanent by operator", "until_ns"),
    ("key not in roles.json", "public_key"),
])
def test_check_when_record_wrong_then_refused_naming_the_field(keys: Path, case: str, field: str) -> None:
    rec = _rec(keys)
    kw: dict[str, Any] = {}
    if case == "same identity":
        kw["requester_identity"] = "admin"
    elif case == "other account":
        kw["account"] = "PROP02"
    elif case == "other limits":
        kw["limits"] = {"max_order_qty": 30_000}
    elif case == "other expiry":
        kw["until_ns"] = UNTIL + 1
    elif case == "expired":
        kw["now_ns"] = rec["expires_ns"]
    elif case == "permanent by operator":
        rec = _rec(keys, identity="monitor", until_ns=None)
        kw["until_ns"] = None
    elif case == "key not in roles.json":
        rec["public_key"] = _rec(keys, identity="operator")["public_key"]
    with pytest.raises(ApprovalError) as exc:
        _check(keys, rec, **kw)
    assert exc.value.field == field


def test_check_when_permanent_and_admin_approved_then_passes(keys: Path) -> None:
    _check(keys, _rec(keys, until_ns=None), until_ns=None)


def test_mac_when_record_altered_then_core_rejects_it(keys: Path) -> None:
    rec = _rec(keys)
    rec["limits"] = {"max_order_qty": 90_000}
    secret = server_keypair(keys).secret
    assert secret is not None and not verify_mac(rec, secret)
