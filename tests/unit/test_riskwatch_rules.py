"""The trips file: every metric and scope it accepts, every error it names, and a refused reload."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core_bridge.protocol import KillLevel, KillScope
from core_bridge.riskwatch.rules import (
    METRIC_SCOPES,
    RulesError,
    default_rules_path,
    load_rules,
    parse_rules,
    reload_rules,
)

BASE: dict[str, Any] = {"name": "r1", "metric": "order_rate", "scope": "account", "key": "*", "comparison": ">",
                        "threshold": 100, "confirm_readings": 3, "action": "CANCEL_ONLY", "cooldown_s": 60}


def doc(**rule: Any) -> dict[str, Any]:
    r = {k: v for k, v in (BASE | rule).items() if v is not None}
    return {"approver": "cro", "reason": "approved", "rule": [r]}


def errors_of(d: dict[str, Any]) -> list[str]:
    with pytest.raises(RulesError) as exc:
        parse_rules(d, "trips.toml")
    return exc.value.errors


def test_project_trips_file_when_loaded_then_valid_and_approved() -> None:
    rs = load_rules(default_rules_path())
    assert rs.approver and rs.reason and len(rs.rules) >= 5 and len(rs.digest) == 16
    assert {r.metric for r in rs.rules} >= {"pnl", "order_rate", "reject_rate", "heartbeat_age"}


@pytest.mark.parametrize(("metric", "scope"), [(m, s) for m, scopes in METRIC_SCOPES.items() for s in scopes])
def test_rule_when_metric_is_kept_for_the_scope_then_accepted(metric: str, scope: KillScope) -> None:
    key = None if scope is KillScope.FIRM else {"venue": "arca", "symbol": "aapl"}.get(scope.value, "PROP01")
    rs = parse_rules(doc(metric=metric, scope=scope.value, key=key))
    rule = rs.rules[0]
    assert (rule.metric, rule.scope) == (metric, scope)
    assert rule.key == {"venue": "ARCA", "symbol": "AAPL"}.get(scope.value, key)


@pytest.mark.parametrize(
    ("rule", "fieldname", "text"),
    [
        ({"metric": "vibes"}, "metric", "unknown metric 'vibes'"),
        ({"scope": "desk"}, "scope", "unknown scope 'desk'"),
        ({"metric": "heartbeat_age"}, "scope", "heartbeat_age is not kept per account"),
        ({"metric": "concentration", "scope": "venue", "key": "NSDQ"}, "scope", "not kept per venue"),
        ({"confirm_readings": None}, "confirmation", "missing"),
        ({"confirm_window_s": 5}, "confirmation", "not both"),
        ({"confirm_readings": 1}, "confirm_readings", ">= 2"),
        ({"confirm_readings": None, "confirm_window_s": 0}, "confirm_window_s", "positive"),
        ({"action": "ACTIVE"}, "action", "never resumes"),
        ({"action": "FLATTEN", "scope": "venue", "key": "NSDQ", "metric": "order_rate"}, "action",
         "positions are not kept per venue"),
        ({"cancel_all": "yes"}, "cancel_all", "true or false"),
        ({"threshold": 1.5}, "threshold", "never a float"),
        ({"threshold": "lots"}, "threshold", "not a number"),
        ({"threshold": "NaN"}, "threshold", "not a finite number"),
        ({"threshold": None}, "threshold", "never a float"),
        ({"comparison": "=="}, "comparison", "must be one of"),
        ({"cooldown_s": -1}, "cooldown_s", ">= 0"),
        ({"cooldown_s": None}, "cooldown_s", ">= 0"),
        ({"key": None}, "key", "\"*\" for every account"),
        ({"key": "WAYTOOLONGACCT"}, "key", "at most 8 characters"),
        ({"scope": "venue", "key": "BATS"}, "key", "unknown venue 'BATS'"),
        ({"scope": "firm", "key": "PROP01"}, "key", "firm scope has no key"),
        ({"reason": "LIMIT_PRICE_COLLAR"}, "reason", "only a reject_rate rule"),
        ({"metric": "reject_rate", "reason": "NOPE"}, "reason", "unknown reason code"),
        ({"thresold": 5}, "thresold", "unknown field"),
        ({"name": ""}, "name", "missing"),
    ],
)
def test_rule_when_a_field_is_wrong_then_the_error_names_rule_and_field(rule: dict[str, Any], fieldname: str,
                                                                         text: str) -> None:
    errors = errors_of(doc(**rule))
    assert len(errors) == 1, errors
    assert f": {fieldname}: " in errors[0] and text in errors[0]
    assert errors[0].startswith("trips.toml: rule ")


def test_file_when_approval_missing_or_names_repeat_then_refused_whole() -> None:
    d = doc()
    d["rule"].append(dict(d["rule"][0]))
    del d["approver"]
    d["settings"] = {"eval_interval_s": 0, "tick": 1}
    errors = errors_of(d)
    assert any("'approver' missing" in e for e in errors)
    assert any("rule 'r1': name: used by another rule" in e for e in errors)
    assert any("settings: eval_interval_s" in e for e in errors) and any("unknown field 'tick'" in e for e in errors)


def test_rule_when_valid_then_typed_and_breach_follows_the_comparison() -> None:
    rs = parse_rules(doc(metric="pnl", comparison="<=", threshold="-50_000", action="HALTED", cancel_all=True,
                         confirm_readings=None, confirm_window_s=5))
    r = rs.rules[0]
    assert r.threshold == Decimal(-50000) and r.level is KillLevel.HALTED and r.cancel_all
    assert r.confirm_window_s == 5.0 and r.confirm_readings is None
    assert r.breached(Decimal(-50000)) and not r.breached(Decimal("-49999.99"))
    assert rs.setting("rate_window_s") == 5.0


def test_rule_when_the_action_is_flatten_then_halted_with_the_flatten_flow_and_said_in_the_reason() -> None:
    from core_bridge.riskwatch.engine import Trip

    r = parse_rules(doc(action="FLATTEN")).rules[0]
    assert r.flatten and r.level is KillLevel.HALTED and r.action == "FLATTEN" and r.to_json()["action"] == "FLATTEN"
    assert "-> FLATTEN (HALTED, cancel-all, flatten to zero)" in Trip(r, "PROP01", (), 0.0, 1).reason()
    assert not parse_rules(doc(action="HALTED")).rules[0].flatten


def test_reload_when_the_new_file_is_bad_then_old_rules_stay_with_the_error(tmp_path: Path) -> None:
    path = tmp_path / "trips.toml"
    path.write_text('approver = "cro"\nreason = "ok"\n[[rule]]\nname = "a"\nmetric = "fill_rate"\nscope = "firm"\n'
                    'comparison = ">"\nthreshold = 10\nconfirm_readings = 2\naction = "REDUCE_ONLY"\ncooldown_s = 5\n')
    current = load_rules(path)
    path.write_text(path.read_text().replace('metric = "fill_rate"', 'metric = "fill_rat"'))
    rules, err = reload_rules(path, current)
    assert rules is current and err is not None and "rule 'a': metric: unknown metric 'fill_rat'" in str(err)
    path.write_text("not = [toml")
    rules, err = reload_rules(path, current)
    assert rules is current and err is not None and "not valid TOML" in str(err)
    rules, err = reload_rules(tmp_path / "missing.toml", current)
    assert rules is current and err is not None and "cannot read" in str(err)
