"""The drop copy's Grafana dashboard (infra/grafana/colo-ops-fixdrop.json) only queries what `opsctl fix-dropcopy`
serves, shows every metric it serves, reads counters only through rate()/increase(), parses as PromQL, and
colours the session state and the lag the way the alert rules judge them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.fixdrop.metrics import SessionMetrics
from tests.monitoring_helpers import (
    INFRA,
    PROMETHEUS_SERIES,
    dashboard_targets,
    load_dashboard,
    metric_names,
    rate_arguments,
    rated,
    run_promtool,
    scrape,
    served_types,
)

DASHBOARD = INFRA / "grafana" / "colo-ops-fixdrop.json"
RULES = INFRA / "prometheus" / "fix_dropcopy_alerts.yml"


def _scrape() -> tuple[SessionMetrics, str]:
    m = SessionMetrics()
    return m, scrape(m, m.registry)


@pytest.fixture(scope="module")
def served() -> dict[str, str]:
    m, text = _scrape()
    families = list(m.registry.collect())
    assert families and all(f.samples for f in families), "a metric renders no sample"
    return served_types(text)


@pytest.fixture(scope="module")
def counters(served: dict[str, str]) -> set[str]:
    found = {n for n, kind in served.items() if kind == "counter"}
    assert found, "no counter found in the scrape"
    return found


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return load_dashboard(DASHBOARD)


_targets = dashboard_targets


def _panel(dash: dict[str, Any], metric: str) -> dict[str, Any]:
    found = [p for p, e in _targets(dash) if metric in metric_names(e)]
    assert found, f"no panel shows {metric}"
    return found[0]


def _alert_threshold(metric: str, op: str) -> float:
    for g in yaml.safe_load(RULES.read_text())["groups"]:
        for r in g["rules"]:
            if m := re.search(rf"{metric}\)?\s*{re.escape(op)}\s*([\d.]+)", r["expr"]):
                return float(m.group(1))
    raise AssertionError(f"no alert threshold on {metric}")


def test_dashboard_when_loaded_then_every_query_uses_only_served_metrics(dash: dict[str, Any],
                                                                        served: dict[str, str]) -> None:
    known = set(served) | PROMETHEUS_SERIES
    assert all(p.get("targets") for p in dash["panels"]), "a panel without a query"
    for panel, expr in _targets(dash):
        names = set(metric_names(expr))
        assert names, f"{panel['title']}: no metric in {expr!r}"
        assert names <= known, f"{panel['title']}: {names - known} is not served by opsctl fix-dropcopy"


def test_dashboard_when_loaded_then_every_served_metric_is_on_a_panel(dash: dict[str, Any]) -> None:
    m, _ = _scrape()
    shown = {n for _, e in _targets(dash) for n in metric_names(e)}
    for family in m.registry.collect():  # by family: a counter's `_created` twin need not be shown
        assert shown & {s.name for s in family.samples}, f"{family.name} is on no panel"


def test_dashboard_when_loaded_then_no_counter_is_shown_without_rate_or_increase(dash: dict[str, Any],
                                                                                counters: set[str]) -> None:
    for panel, expr in _targets(dash):
        names = metric_names(expr)
        for name in set(names) & counters:
            assert rated(expr, name) == names.count(name), f"{panel['title']}: raw cumulative {name}"
        assert set(rate_arguments(expr)) <= counters, f"{panel['title']}: rate() over a gauge"
        for m in re.finditer(r"\b(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
            assert m.group(1) in ("1m", "5m"), f"{panel['title']}: range {m.group(1)}"


def test_dashboard_queries_when_given_to_promtool_then_they_parse(dash: dict[str, Any], tmp_path: Path) -> None:
    records = [{"record": f"dashboard:query_{i}", "expr": e} for i, (_, e) in enumerate(_targets(dash))]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    out = run_promtool("check", "rules", path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dashboard_when_loaded_then_its_own_uid_and_the_datasource_variable(dash: dict[str, Any]) -> None:
    others = [load_dashboard(p) for p in DASHBOARD.parent.glob("*.json") if p != DASHBOARD]
    assert others and dash["uid"] not in {d["uid"] for d in others}  # Grafana overwrites a dashboard of equal uid
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dash["panels"])


def test_session_panel_when_loaded_then_logged_on_is_green_and_logged_out_red(dash: dict[str, Any]) -> None:
    panel = _panel(dash, "colo_fix_session_logged_on")
    defaults = panel["fieldConfig"]["defaults"]
    assert panel["type"] == "stat" and defaults["color"]["mode"] == "thresholds"
    options = defaults["mappings"][0]["options"]
    assert (options["0"]["text"], options["0"]["color"]) == ("LOGGED OUT", "red")
    assert (options["1"]["text"], options["1"]["color"]) == ("LOGGED ON", "green")
    # FixDropCopySessionDown fires below 1: the panel turns green exactly where the alert stops
    steps = defaults["thresholds"]["steps"]
    assert steps[0] == {"color": "red", "value": None}
    assert steps[1] == {"color": "green", "value": _alert_threshold("colo_fix_session_logged_on", "<")}
    assert defaults["noValue"]  # an absent series must not read as a blank, healthy-looking panel


def test_lag_panel_when_loaded_then_seconds_turn_red_at_the_alert_threshold(dash: dict[str, Any]) -> None:
    panel = _panel(dash, "colo_fix_lag_seconds")
    assert "colo_fix_lag_fills" in {n for t in panel["targets"] for n in metric_names(t["expr"])}
    ref = next(t["refId"] for t in panel["targets"] if "colo_fix_lag_seconds" in metric_names(t["expr"]))
    override = next(o for o in panel["fieldConfig"]["overrides"]
                    if o["matcher"] == {"id": "byFrameRefID", "options": ref})
    props = {p["id"]: p["value"] for p in override["properties"]}
    assert props["unit"] == "s"
    red = [s for s in props["thresholds"]["steps"] if s["color"] == "red"]
    assert red and red[0]["value"] == _alert_threshold("colo_fix_lag_seconds", ">")


def test_breaks_panel_when_loaded_then_one_series_per_break_type(dash: dict[str, Any]) -> None:
    panel = _panel(dash, "colo_fix_intraday_open_breaks")
    (target,) = [t for t in panel["targets"] if "colo_fix_intraday_open_breaks" in metric_names(t["expr"])]
    assert re.search(r"\bby \(btype\)", target["expr"]) and "{{btype}}" in target["legendFormat"]
