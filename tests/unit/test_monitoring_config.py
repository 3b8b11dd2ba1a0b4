"""The Prometheus and Grafana files only name metrics the exporter really serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from core_bridge.telemetry import Exporter

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _exported() -> set[str]:
    text = Exporter().render().decode()
    return {m.group(1) for m in re.finditer(r"^# TYPE (\w+) ", text, re.M)}


def test_grafana_dashboard_when_loaded_then_every_query_uses_an_exported_metric() -> None:
    dash = json.loads((INFRA / "grafana" / "colo-ops-core.json").read_text())
    names = {re.match(r"\w+", t["expr"]).group(0) for p in dash["panels"] for t in p["targets"]}  # type: ignore[union-attr]
    assert names and names <= _exported()


def test_prometheus_alerts_when_loaded_then_reference_exported_metrics() -> None:
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yml").read_text())
    used = set()
    for g in rules["groups"]:
        for r in g["rules"]:
            used |= set(re.findall(r"colo_core_\w+", r["expr"]))
    assert used and used <= _exported()
    assert yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
