"""Idempotency ids, limit normalisation and key-file reading of the control client (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_bridge.client.commands import normalize_limits
from core_bridge.client.ids import MAX_ID_LEN, derive_id, fresh_id
from core_bridge.client.keyfile import read_curve_key
from core_bridge.errors import ConfigError


def test_derive_id_when_same_key_and_args_then_same_id() -> None:
    a = derive_id("sod-load:2026-11-20:positions", "set_sod_positions", {"date": "2026-11-20", "positions": {}})
    b = derive_id("sod-load:2026-11-20:positions", "set_sod_positions", {"positions": {}, "date": "2026-11-20"})
    assert a == b
    assert a.startswith("sod-load:2026-11-20:positions:")


def test_derive_id_when_args_differ_then_ids_differ() -> None:
    a = derive_id("bp:2026-11-20", "set_bp", {"bp": {"PROP01": "100"}})
    b = derive_id("bp:2026-11-20", "set_bp", {"bp": {"PROP01": "101"}})
    assert a != b


def test_derive_id_when_key_is_very_long_then_id_fits_the_protocol_limit() -> None:
    assert len(derive_id("x" * 500, "set_kill", {})) <= MAX_ID_LEN


def test_fresh_id_when_called_twice_then_ids_differ() -> None:
    assert fresh_id("operator") != fresh_id("operator")


def test_normalize_limits_when_values_are_text_then_ints_and_decimal_text() -> None:
    out = normalize_limits({"max_order_qty": "5_000", "max_order_notional": "250000.50", "price_collar_pct": 5})
    assert out == {"max_order_qty": 5000, "max_order_notional": "250000.50", "price_collar_pct": "5"}


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        ({"max_qty": 1}, "unknown limit 'max_qty'"),
        ({"max_order_qty": "-1"}, "max_order_qty"),
        ({"max_order_qty": "1.5"}, "not a non-negative integer"),
        ({"max_order_notional": 1.5}, "never a float"),
        ({"credit_threshold": "abc"}, "credit_threshold"),
        ({}, "no limits"),
    ],
)
def test_normalize_limits_when_bad_then_value_error_names_the_key(limits: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        normalize_limits(limits)


def test_read_curve_key_when_missing_then_config_error_names_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.key"):
        read_curve_key(tmp_path / "nope.key")


def test_read_curve_key_when_not_a_certificate_then_config_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.key"
    p.write_text('public-key = "short"\n')
    with pytest.raises(ConfigError, match="not a CURVE certificate"):
        read_curve_key(p)


def test_read_curve_key_when_written_by_keyset_then_same_keys_as_zmq_auth(tmp_path: Path) -> None:
    import zmq.auth

    from core_bridge.auth import generate_keyset

    generate_keyset(tmp_path / "keys")
    path = tmp_path / "keys" / "clients" / "operator.key_secret"
    assert read_curve_key(path) == zmq.auth.load_certificate(str(path))


def test_audit_args_when_small_then_verbatim_when_bulk_then_digest_and_sizes() -> None:
    import hashlib

    import orjson

    from core_bridge.client.audit_trail import audit_args

    small = {"scope": "firm", "key": None, "level": "HALTED"}
    assert audit_args(small) is small
    bulk = {"date": "2026-11-20", "positions": {f"A{i}": {"AAPL": i} for i in range(2000)}}
    got = audit_args(bulk)
    assert got["summary"] == {"date": "2026-11-20", "positions": 2000}
    assert got["sha256"] == hashlib.sha256(orjson.dumps(bulk, option=orjson.OPT_SORT_KEYS)).hexdigest()
