"""The risk watcher's alert rules and dashboard: promtool checks and unit-tests the rules, every alert has a
firing and a quiet case, and rules and panels name only `colo_riskwatch_*` metrics the watcher serves
(counters only through rate()/increase()), every one of them on a panel; the scrape config has the job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from core_bridge.exporter import COUNTER
from core_bridge.riskwatch.prom import METRICS
from tests.monitoring_helpers import INFRA, PROMETHEUS_SERIES, metric_names, rate_arguments, rated, run_promtool

RULES = INFRA / "prometheus" / "riskwatch_alerts.yml"
RULE_TESTS = INFRA / "prometheus" / "tests" / "riskwatch_alerts_test.yml"
DASHBOARD = INFRA / "grafana" / "colo-ops-riskwatch.json"
SERIES = {s for m in METRICS for s in m.series()}
COUNTERS = {s for m in METRICS if m.type == COUNTER for s in m.series()}


def _alerts() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"]}


def _exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_promtool_when_run_then_rules_valid_and_every_case_passes() -> None:
    out = run_promtool("check", "rules", RULES)
    assert out.returncode == 0 and f"SUCCESS: {len(_alerts())} rules found" in out.stdout, out.stdout + out.stderr
    out = run_promtool("test", "rules", RULE_TESTS)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_rule_tests_when_listed_then_every_alert_fires_once_and_stays_quiet_once() -> None:
    cases = [c for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    for alert in _alerts():
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c.get("exp_alerts") for c in mine), f"{alert}: no case where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{alert}: no case where it stays quiet"
    assert {"RiskwatchTripped", "RiskwatchAccountLossNearTrip", "RiskwatchAccountExposureHigh"} <= set(_alerts())


def test_rules_and_panels_when_read_then_only_served_metrics_and_counters_only_rated() -> None:
    exprs = [(a, r["expr"]) for a, r in _alerts().items()] + _exprs()
    for where, expr in exprs:
        names = metric_names(expr)
        assert names and set(names) <= SERIES | PROMETHEUS_SERIES, f"{where}: {set(names) - SERIES}"
        for name in set(names) & COUNTERS:
            assert rated(expr, name) == names.count(name), f"{where}: {name} used without rate()/increase()"
        assert set(rate_arguments(expr)) <= COUNTERS, f"{where}: rate() over a gauge"
    shown = {n for _, e in _exprs() for n in metric_names(e)}
    assert SERIES <= shown, f"not on any panel: {SERIES - shown}"


def test_dashboard_queries_when_given_to_promtool_then_they_parse(tmp_path: Path) -> None:
    records = [{"record": f"dashboard:query_{i}", "expr": e.replace("$account", ".+")}
               for i, (_, e) in enumerate(_exprs())]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    out = run_promtool("check", "rules", path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_scrape_config_when_read_then_the_watcher_job_and_its_rules_are_in() -> None:
    cfg = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    assert "riskwatch_alerts.yml" in cfg["rule_files"]
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "colo-riskwatch")
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9110"]


def test_collector_when_flattens_ended_then_counted_by_rule_and_outcome() -> None:
    from core_bridge.riskwatch.prom import RiskwatchCollector

    doc = {"flattens": {"by_outcome": [{"rule": "runaway", "outcome": "flat", "count": 2},
                                       {"rule": "runaway", "outcome": "partial", "count": 1}]}}
    fams = {f.name: f for f in RiskwatchCollector(lambda: doc).collect()}
    got = {(s.labels["rule"], s.labels["outcome"]): s.value for s in fams["colo_riskwatch_flattens"].samples
           if s.name.endswith("_total")}
    assert got == {("runaway", "flat"): 2.0, ("runaway", "partial"): 1.0}
