"""The Prometheus and Grafana files only name metrics the exporter really serves."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from core_bridge.exporter import Exporter, series_names
from tests.monitoring_helpers import PROMETHEUS_SERIES, metric_names
from tests.unit.test_exporter_metrics import NOW, full_model

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _exported() -> set[str]:
    """Sample names of a real render, from an exporter fed a model where every figure is known."""
    ex = Exporter(clock=lambda: NOW)
    ex.update(full_model())
    served = {s.name for f in text_string_to_metric_families(ex.render().decode()) for s in f.samples}
    assert served == series_names()  # the catalogue the other tests check against is what is served
    return served


def test_grafana_dashboard_when_loaded_then_every_query_uses_an_exported_metric() -> None:
    dash = json.loads((INFRA / "grafana" / "colo-ops-core.json").read_text())
    names = {n for p in dash["panels"] for t in p["targets"] for n in metric_names(t["expr"])}
    assert names and names <= _exported() | PROMETHEUS_SERIES


def test_prometheus_alerts_when_loaded_then_reference_exported_metrics() -> None:
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())
    used = set()
    for g in rules["groups"]:
        for r in g["rules"]:
            used |= set(metric_names(r["expr"]))
    assert used and used <= _exported() | PROMETHEUS_SERIES
    assert yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
