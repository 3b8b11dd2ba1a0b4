"""The drop copy's alert rules: promtool checks and unit-tests them, every alert has a firing and a quiet case,
rules name only metrics `opsctl fix-dropcopy` serves (counters only through increase()), and Prometheus loads
the rule file and scrapes the service."""

from __future__ import annotations

from typing import Any

import yaml

from flows.fixdrop.metrics import SessionMetrics
from tests.monitoring_helpers import (
    INFRA,
    PROMETHEUS_SERIES,
    metric_names,
    rate_arguments,
    run_promtool,
    scrape,
    served_types,
)

RULES = INFRA / "prometheus" / "fix_dropcopy_alerts.yml"
RULE_TESTS = INFRA / "prometheus" / "tests" / "fix_dropcopy_alerts_test.yml"


def _alerts() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def _served() -> tuple[set[str], set[str]]:
    m = SessionMetrics()
    types = served_types(scrape(m, m.registry))
    return set(types), {n for n, kind in types.items() if kind == "counter"}


def test_promtool_when_run_then_rules_valid_and_every_case_passes() -> None:
    out = run_promtool("check", "rules", RULES)
    assert out.returncode == 0 and f"SUCCESS: {len(_alerts())} rules found" in out.stdout, out.stdout + out.stderr
    out = run_promtool("test", "rules", RULE_TESTS)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_rule_tests_when_listed_then_every_alert_fires_once_and_stays_quiet_once() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    cases = [c for t in doc["tests"] for c in t["alert_rule_test"]]
    for alert in _alerts():
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c.get("exp_alerts") for c in mine), f"{alert}: no case where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{alert}: no case where it stays quiet"


def test_alert_rules_when_read_then_only_served_metrics_and_counters_only_rated() -> None:
    served, counters = _served()
    served = served | PROMETHEUS_SERIES  # `up`: how an alert sees the service gone
    for alert, rule in _alerts().items():
        names = metric_names(rule["expr"])
        assert names and set(names) <= served, f"{alert} uses {set(names) - served}"
        assert set(rate_arguments(rule["expr"])) <= counters, f"{alert}: increase() over a gauge"
        assert not (set(names) & counters) or rate_arguments(rule["expr"]), f"{alert}: a counter used raw"


def test_prometheus_config_when_read_then_loads_the_rules_and_scrapes_the_service() -> None:
    cfg = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    assert "fix_dropcopy_alerts.yml" in cfg["rule_files"]
    assert "colo-fix-dropcopy" in {j["job_name"] for j in cfg["scrape_configs"]}
