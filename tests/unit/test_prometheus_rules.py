"""The alert rules pass `promtool check rules` and their unit tests (`promtool test rules`), every alert has a
firing and a quiet case, the heartbeat page is tested with NaN, absent series and a down target, and the rules
and dashboard queries name only metrics the exporter serves, counters only through rate()/increase().

promtool missing is a failure, not a skip (tests/monitoring_helpers.py says how .ci/run installs it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from core_bridge.exporter import COUNTER, HISTOGRAM, METRICS, series_names
from tests.monitoring_helpers import (
    INFRA,
    PROMETHEUS_SERIES,
    metric_names,
    rate_arguments,
    rated,
    run_promtool,
)

PROM = INFRA / "prometheus"
RULES = PROM / "alerts.yml"
RULE_TESTS = PROM / "tests" / "alerts_test.yml"
COUNTER_SERIES = {s for m in METRICS if m.type in (COUNTER, HISTOGRAM) for s in m.series()}


def _alerts() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def _rule_tests() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    return tests


def _cases(alert: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(test group, alert_rule_test entry) for every check of `alert`."""
    return [(t, c) for t in _rule_tests() for c in t.get("alert_rule_test", []) if c["alertname"] == alert]


def test_promtool_check_rules_when_run_then_every_rule_is_valid() -> None:
    out = run_promtool("check", "rules", RULES)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in out.stdout


def test_promtool_check_config_when_run_then_scrape_config_and_rule_files_are_valid() -> None:
    out = run_promtool("check", "config", PROM / "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "colo-core-bridge")
    assert job["honor_labels"] is True  # the exporter's node label must not become exported_node
    assert {c["labels"]["node"] for c in job["static_configs"]} == {"primary", "standby"}


def test_promtool_test_rules_when_run_then_every_case_passes() -> None:
    out = run_promtool("test", "rules", RULE_TESTS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rule_tests_when_listed_then_every_alert_has_a_firing_and_a_quiet_case() -> None:
    for alert in _alerts():
        cases = _cases(alert)
        assert any(c.get("exp_alerts") for _, c in cases), f"{alert}: no case where it fires"
        assert any(not c.get("exp_alerts") for _, c in cases), f"{alert}: no case where it stays quiet"


def _fires_for_primary(alert: str, cond: Any) -> bool:
    return any(cond(t) and any(a["exp_labels"].get("node") == "primary" for a in c.get("exp_alerts") or [])
               for t, c in _cases(alert))


def _series(t: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [s for s in t["input_series"] if s["series"].startswith(prefix)]


def test_heartbeat_page_when_tested_then_nan_absent_and_target_down_all_fire() -> None:
    age = "colo_core_heartbeat_age_seconds"

    def nan_age(t: dict[str, Any]) -> bool:
        return any("NaN" in s["values"] and 'node="primary"' in s["series"] for s in _series(t, age))

    def absent_primary(t: dict[str, Any]) -> bool:
        return not any('node="primary"' in s["series"] for s in t["input_series"])

    def heartbeat_absent_target_up(t: dict[str, Any]) -> bool:
        return (any('node="primary"' in s["series"] for s in _series(t, "up{"))
                and not any('node="primary"' in s["series"] for s in _series(t, "colo_core_heartbeat")))

    def target_down(t: dict[str, Any]) -> bool:
        return any('node="primary"' in s["series"] and " 0" in f" {s['values']}" for s in _series(t, "up{"))

    def never_heard(t: dict[str, Any]) -> bool:
        return any(s["values"].startswith("0") and 'node="primary"' in s["series"]
                   for s in _series(t, "colo_core_heartbeat_received"))

    for name, cond in [("NaN age", nan_age), ("absent series", absent_primary),
                       ("heartbeat absent, target up", heartbeat_absent_target_up), ("up == 0", target_down),
                       ("never heard", never_heard)]:
        assert _fires_for_primary("CoreHeartbeatStale", cond), f"CoreHeartbeatStale has no firing case for {name}"


def test_alert_rules_when_read_then_only_exported_metrics_and_counters_only_rated() -> None:
    known = series_names() | PROMETHEUS_SERIES
    for alert, rule in _alerts().items():
        expr = rule["expr"]
        names = metric_names(expr)
        assert names, alert
        assert set(names) <= known, f"{alert} uses {set(names) - known}"
        for name in set(names) & COUNTER_SERIES:
            assert rated(expr, name) == names.count(name), f"{alert}: {name} used without rate()/increase()"
        assert set(rate_arguments(expr)) <= COUNTER_SERIES, f"{alert}: rate() over a gauge"
        assert "{{ $labels.node }}" in rule["annotations"]["summary"], f"{alert}: the page must say which node"
        assert "node" in rule["expr"], f"{alert}: must be per node"


def _dashboard_exprs() -> list[str]:
    dash = json.loads((INFRA / "grafana" / "colo-ops-core.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def test_dashboard_queries_when_given_to_promtool_then_they_parse(tmp_path: Path) -> None:
    # $node is a Grafana variable; as a regex over all nodes the expressions are plain PromQL.
    records = [{"record": f"dashboard:query_{i}", "expr": e.replace("$node", ".+")}
               for i, e in enumerate(_dashboard_exprs())]
    rules = {"groups": [{"name": "dashboard", "rules": records}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = run_promtool("check", "rules", path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dashboard_state_query_when_evaluated_then_gives_the_kill_level_number(tmp_path: Path) -> None:
    """The state panel turns the enum gauge into 0..3 (KillLevel) or -1 (UNKNOWN) for its value mappings."""
    state_expr = next(e for e in _dashboard_exprs() if 'scope="firm"' in e and "colo_core_trading_state" in e)
    states = {"primary": "HALTED", "standby": "UNKNOWN"}
    series = [{"series": f'colo_core_trading_state{{job="colo-core-bridge", node="{node}", scope="firm", key="", '
                         f'state="{s}"}}', "values": "1x3" if s == current else "0x3"}
              for node, current in states.items()
              for s in ("ACTIVE", "REDUCE_ONLY", "CANCEL_ONLY", "HALTED", "UNKNOWN")]
    tests = {"evaluation_interval": "5s", "rule_files": [], "tests": [{
        "interval": "5s", "input_series": series,
        "promql_expr_test": [{"expr": state_expr.replace("$node", ".+"), "eval_time": "10s", "exp_samples": [
            {"labels": '{node="primary"}', "value": 3}, {"labels": '{node="standby"}', "value": -1}]}]}]}
    path = tmp_path / "state_test.yml"
    path.write_text(yaml.safe_dump(tests))
    out = run_promtool("test", "rules", path)
    assert out.returncode == 0, out.stdout + out.stderr
