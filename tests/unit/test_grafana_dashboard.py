"""The Grafana dashboard (infra/grafana/colo-ops-core.json) only queries what the exporter serves, per node,
with rates for counters and histogram_quantile for latency, and shows trading state and heartbeat age the way
an operator reads them: state names with colours, heartbeat age red once stale."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from core_bridge.exporter import COUNTER, HISTOGRAM, METRICS, series_names
from core_bridge.protocol import KillLevel
from tests.monitoring_helpers import (
    INFRA,
    PROMETHEUS_SERIES,
    dashboard_targets,
    load_dashboard,
    metric_names,
    rate_arguments,
    rated,
    selector_matchers,
)

DASHBOARD = INFRA / "grafana" / "colo-ops-core.json"
COUNTER_SERIES = {s for m in METRICS if m.type in (COUNTER, HISTOGRAM) for s in m.series()}
NODE_MATCHER = re.compile(r'(?:^|,)\s*node\s*=~\s*"\$node"\s*(?:,|$)')


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return load_dashboard(DASHBOARD)


_targets = dashboard_targets


def _panel(dash: dict[str, Any], metric: str, kind: str = "stat") -> dict[str, Any]:
    found = [p for p, e in _targets(dash) if metric in metric_names(e) and p["type"] == kind]
    assert found, f"no {kind} panel shows {metric}"
    return found[0]


def test_dashboard_when_loaded_then_every_panel_queries_only_exported_metrics(dash: dict[str, Any]) -> None:
    known = series_names() | PROMETHEUS_SERIES
    assert all(p.get("targets") for p in dash["panels"]), "a panel without a query"
    for panel, expr in _targets(dash):
        names = set(metric_names(expr))
        assert names, f"{panel['title']}: no metric in {expr!r}"
        assert names <= known, f"{panel['title']}: {names - known} is not served by the exporter"
    shown = {n for _, e in _targets(dash) for n in metric_names(e)}
    for spec in METRICS:  # and nothing the exporter serves is left off the dashboard
        assert shown & set(spec.series()), f"{spec.name} is on no panel"


def test_dashboard_when_loaded_then_node_variable_exists_and_every_query_filters_by_it(dash: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    node = variables["node"]
    assert node["type"] == "query" and node["multi"] and node["includeAll"]
    query = node["query"]["query"] if isinstance(node["query"], dict) else node["query"]
    assert re.fullmatch(r'label_values\(up\{job="colo-core-bridge"\}, node\)', query)
    for panel, expr in _targets(dash):
        for name in set(metric_names(expr)):
            for matchers in selector_matchers(expr, name):
                assert NODE_MATCHER.search(matchers), f'{panel["title"]}: {name}{{{matchers}}} lacks node=~"$node"'
        legends = [t.get("legendFormat", "") for t in panel["targets"]]
        if panel["type"] != "table":
            assert all("{{node}}" in lf for lf in legends), f"{panel['title']}: legend does not name the node"


def test_dashboard_when_loaded_then_no_counter_is_shown_without_rate_or_increase(dash: dict[str, Any]) -> None:
    for panel, expr in _targets(dash):
        names = metric_names(expr)
        for name in set(names) & COUNTER_SERIES:
            assert rated(expr, name) == names.count(name), f"{panel['title']}: raw cumulative {name}"
        assert set(rate_arguments(expr)) <= COUNTER_SERIES, f"{panel['title']}: rate() over a gauge"
        for m in re.finditer(r"\b(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
            assert m.group(1) in ("1m", "5m"), f"{panel['title']}: range {m.group(1)}"


def test_dashboard_when_loaded_then_latency_is_a_histogram_quantile_over_buckets(dash: dict[str, Any]) -> None:
    panel = _panel(dash, "colo_core_gate_latency_seconds_bucket", "timeseries")
    exprs = [t["expr"] for t in panel["targets"]]
    quantiles = [e for e in exprs if e.startswith("histogram_quantile(")]
    assert {re.match(r"histogram_quantile\(([\d.]+),", e).group(1) for e in quantiles} >= {"0.5", "0.99"}  # type: ignore[union-attr]
    assert all(re.search(r"sum by \(node, le\) \(rate\(colo_core_gate_latency_seconds_bucket", e) for e in quantiles)
    assert panel["fieldConfig"]["defaults"]["unit"] == "s"


def test_state_panel_when_loaded_then_maps_the_four_levels_to_names_and_colours(dash: dict[str, Any]) -> None:
    panel = next(p for p, e in _targets(dash) if "colo_core_trading_state" in metric_names(e) and p["type"] == "stat")
    assert 'scope="firm"' in panel["targets"][0]["expr"]
    options: dict[str, dict[str, Any]] = {}
    for mapping in panel["fieldConfig"]["defaults"]["mappings"]:
        assert mapping["type"] == "value"
        options.update(mapping["options"])
    for level in KillLevel:  # the query yields the KillLevel number of the state that is 1
        m = options[str(int(level))]
        assert m["text"] == level.name and m["color"], level
    assert {options[str(int(lv))]["color"] for lv in KillLevel} >= {"green", "red"}
    assert options[str(int(KillLevel.ACTIVE))]["color"] == "green"
    assert options[str(int(KillLevel.HALTED))]["color"] == "red"
    assert len({options[str(int(lv))]["color"] for lv in KillLevel}) == len(KillLevel)  # tell them apart
    assert options["-1"]["text"] == "UNKNOWN"


def _alert_threshold(metric: str) -> float:
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())
    for g in rules["groups"]:
        for r in g["rules"]:
            if m := re.search(rf"{metric} > ([\d.]+)", r["expr"]):
                return float(m.group(1))
    raise AssertionError(f"no alert threshold on {metric}")


def test_heartbeat_panel_when_loaded_then_turns_red_at_the_alert_threshold(dash: dict[str, Any]) -> None:
    panel = _panel(dash, "colo_core_heartbeat_age_seconds")
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["unit"] == "s" and defaults["color"]["mode"] == "thresholds"
    steps = defaults["thresholds"]["steps"]
    assert steps[0]["value"] is None and steps[0]["color"] == "green"
    red = [s for s in steps if s["color"] == "red"]
    assert red and red[0]["value"] == _alert_threshold("colo_core_heartbeat_age_seconds")


def test_reachability_panel_when_loaded_then_shows_up_heartbeat_and_control_as_up_down(dash: dict[str, Any]) -> None:
    panel = _panel(dash, "up")
    names = {n for t in panel["targets"] for n in metric_names(t["expr"])}
    assert names == {"up", "colo_core_heartbeat_received", "colo_core_control_up"}
    options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert (options["0"]["text"], options["0"]["color"]) == ("DOWN", "red")
    assert (options["1"]["text"], options["1"]["color"]) == ("UP", "green")
