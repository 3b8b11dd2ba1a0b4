from __future__ import annotations

import pytest

from flows.checks.preopen import failed, preopen_findings

NOW = 1_763_650_000_000_000_000


def _ready() -> tuple[dict, dict]:
    status = {
        "state_unknown": False, "ha_role": "active", "trading_state": "ACTIVE",
        "kill": {"firm": "ACTIVE", "account": {}, "symbol": {}, "venue": {}},
        "limits_version": 3, "core_time_ns": NOW + 1_000_000,
    }
    snap = {"bp": {"PROP01": "1000", "PROP02": "5"}, "locates_date": "2026-11-20", "sod_date": "2026-11-20"}
    return status, snap


def _check(status: dict, snap: dict, hb: float | None = 120.0) -> list[str]:
    return [f.check for f in failed(preopen_findings(status, snap, date="2026-11-20", accounts=["PROP01", "PROP02"],
                                                      now_ns=NOW, heartbeat_age_ms=hb))]


def test_preopen_when_everything_loaded_then_no_failures() -> None:
    assert _check(*_ready()) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s, n: s.update(state_unknown=True), "core-state-known"),
        (lambda s, n: s.pop("state_unknown"), "core-state-known"),
        (lambda s, n: s.update(ha_role="passive"), "core-active-node"),
        (lambda s, n: s["kill"].update(firm="HALTED"), "kill-firm-level"),
        (lambda s, n: s.update(limits_version=0), "limits-loaded"),
        (lambda s, n: n["bp"].pop("PROP02"), "bp-loaded"),
        (lambda s, n: n.update(locates_date="2026-11-19"), "locates-loaded"),
        (lambda s, n: n.pop("sod_date"), "sod-positions-loaded"),
        (lambda s, n: s.update(core_time_ns=NOW + 2_000_000_000), "clock-sync"),
        (lambda s, n: s.pop("core_time_ns"), "clock-sync"),
    ],
)
def test_preopen_when_one_input_missing_or_wrong_then_that_check_fails(mutate, expected: str) -> None:
    status, snap = _ready()
    mutate(status, snap)
    assert _check(status, snap) == [expected]


def test_preopen_when_no_heartbeat_then_fails_closed() -> None:
    assert _check(*_ready(), hb=None) == ["heartbeat"]
