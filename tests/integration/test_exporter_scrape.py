"""The exporter's real HTTP endpoint, scraped and parsed as Prometheus does (prometheus_client.parser), against a
running twin core and with no core up; each scrape is then fed to promtool with infra/prometheus/alerts.yml to
check which alerts those exact values make fire (the core-down page must, with no NaN in its series).

The exporter runs as `corectl exporter` runs it: `run_exporter` in a thread, the HTTP server beside it.
"""

from __future__ import annotations

import math
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from core_bridge.client import CoreClient
from core_bridge.exporter import COUNTER, HISTOGRAM, METRICS, Exporter, run_exporter
from core_bridge.protocol import Command
from core_bridge.telemetry import TelemetrySubscriber
from hw.twin.launch import TwinHandle, free_ports
from tests.monitoring_helpers import INFRA, run_promtool

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
JOB, INSTANCE = "colo-core-bridge", "127.0.0.1:9108"
DEADLINE_S = 30.0


class Scraper:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.text = ""

    def families(self) -> dict[str, Any]:
        self.text = urllib.request.urlopen(self.url, timeout=5).read().decode()  # noqa: S310
        return {f.name: f for f in text_string_to_metric_families(self.text)}

    def samples(self) -> Samples:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in self.families().values() for s in f.samples}

    def until(self, cond: Callable[[Samples], bool], what: str, timeout: float = DEADLINE_S) -> Samples:
        """Scrape until `cond` holds (polling with a deadline, no fixed sleep); the last scrape's samples."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            got = self.samples()
            if cond(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last scrape:\n{self.text}")
            time.sleep(0.05)


def get(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@contextmanager
def exporter_on(handle: TwinHandle, **client_kw: Any) -> Iterator[Scraper]:
    client = CoreClient(handle.endpoints["control"], handle.keys_dir, identity="monitor", **client_kw)
    sub = TelemetrySubscriber(handle.endpoints["telemetry"], handle.keys_dir, "monitor")
    ex = Exporter()
    port = free_ports(1)[0]
    server = ex.serve(port)
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            run_exporter(client, sub, ex, interval_s=0.3, stop=stop)
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            errors.append(exc)

    t = threading.Thread(target=loop, name="exporter", daemon=True)
    t.start()
    try:
        yield Scraper(port)
    finally:
        stop.set()
        t.join(30)
        server.shutdown()
        sub.close()
        client.close()
    assert not t.is_alive() and errors == []


def check_types_and_values(samples: Samples, families: dict[str, Any]) -> None:
    for spec in METRICS:
        name = spec.name.removesuffix("_total") if spec.type == COUNTER else spec.name
        assert families[name].type == spec.type, spec.name
        assert all(s.name in spec.series() for s in families[name].samples), spec.name
        if spec.type == COUNTER:
            assert spec.name.endswith("_total")
        if spec.type == HISTOGRAM:
            assert spec.name.endswith("_seconds")
    assert families["colo_core_heartbeat_age_seconds"].type == "gauge"
    bad = {k: v for k, v in samples.items() if not math.isfinite(v)}
    assert bad == {}, "NaN/Inf in the scrape"


# --------------------------------------------------------------------------- promtool over a scrape

_HEALTHY_STANDBY = {"up": 1.0, "colo_core_heartbeat_received": 1.0, "colo_core_heartbeat_age_seconds": 0.05,
                    "colo_core_control_up": 1.0}


def _series(name: str, labels: dict[str, str]) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{body}}}"


def _values(v: float, n: int = 30) -> str:
    one = "NaN" if math.isnan(v) else ("Inf" if v == math.inf else format(v, ".9f"))
    return " ".join([one] * n)


def firing(tmp_path: Path, samples: Samples | None, expected: set[tuple[str, str]]) -> None:
    """Hold one scrape's values for 2.5 min (the target up, or down when samples is None) next to a healthy
    standby, evaluate alerts.yml with promtool and check exactly `expected` (alertname, node) fire."""
    target = {"job": JOB, "instance": INSTANCE, "node": "primary"}
    inputs = [{"series": _series("up", target), "values": _values(0.0 if samples is None else 1.0)}]
    for (name, labels), v in (samples or {}).items():
        inputs.append({"series": _series(name, {**target, **dict(labels)}), "values": _values(v)})  # honor_labels
    standby = {"job": JOB, "instance": "127.0.0.1:9109", "node": "standby"}
    inputs += [{"series": _series(n, standby), "values": _values(v)} for n, v in _HEALTHY_STANDBY.items()]
    exp = [{"labels": f'{{alertname="{a}", node="{n}"}}', "value": 1} for a, n in sorted(expected)]
    doc = {"rule_files": [str(INFRA / "prometheus" / "alerts.yml")], "evaluation_interval": "5s", "tests": [{
        "interval": "5s", "input_series": inputs, "promql_expr_test": [{
            "expr": 'count by (alertname, node) (ALERTS{alertstate="firing"})', "eval_time": "2m",
            "exp_samples": exp}]}]}
    path = tmp_path / f"scrape_{len(list(tmp_path.iterdir()))}_test.yml"
    path.write_text(yaml.safe_dump(doc))
    out = run_promtool("test", "rules", path)
    assert out.returncode == 0, f"expected firing {sorted(expected)}:\n{out.stdout}{out.stderr}"


# --------------------------------------------------------------------------- the tests

_px = iter(range(1, 10_000))


def _order(price: str) -> dict[str, Any]:
    return {"action": "new", "clordid": next(_px), "account": "PROP01", "symbol": "AAPL", "side": "BUY", "qty": 100,
            "price": price, "ord_type": "LIMIT", "tif": "DAY", "venue": "NSDQ"}


def test_scrape_when_twin_up_then_real_counters_histogram_and_enum_and_alerts_quiet_until_halted(
        twin_core: TwinHandle, tmp_path: Path) -> None:
    with exporter_on(twin_core) as scraper:
        firm = {"node": "primary", "scope": "firm", "key": ""}
        scraper.until(lambda s: get(s, "colo_core_orders_total", node="primary") is not None
                      and get(s, "colo_core_trading_state", **firm, state="ACTIVE") == 1, "first health folded")
        results = twin_core.call(Command.SUBMIT_ORDERS, {"orders": [
            *(_order(f"{221 + i / 100:.2f}") for i in range(5)), _order("999.00")]}).result["results"]
        accepted = sum(1 for r in results if r["ok"])
        rejected = {r["code"] for r in results if not r["ok"]}
        assert accepted == 5 and rejected, results

        def counted(s: Samples) -> bool:
            orders = get(s, "colo_core_orders_total", node="primary") or 0
            rejects = sum(v for (n, lb), v in s.items() if n == "colo_core_rejects_total")
            hist = get(s, "colo_core_gate_latency_seconds_count", node="primary") or 0
            age = get(s, "colo_core_heartbeat_age_seconds", node="primary")
            return round(orders) == accepted and rejects >= 1 and hist >= accepted and age is not None and age < 1

        s = scraper.until(counted, "orders, rejects and gate latency counted")
        check_types_and_values(s, scraper.families())
        for reason in rejected:
            assert (get(s, "colo_core_rejects_total", node="primary", reason=reason) or 0) >= 1
        buckets = sorted((float(dict(lb)["le"]), v) for (n, lb), v in s.items()
                         if n == "colo_core_gate_latency_seconds_bucket")
        assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
        assert buckets[-1] == (math.inf, get(s, "colo_core_gate_latency_seconds_count", node="primary"))
        assert get(s, "colo_core_heartbeat_received", node="primary") == 1
        assert get(s, "colo_core_control_up", node="primary") == 1
        assert get(s, "colo_core_auth_failures_total", node="primary", side="client") == 0
        firing(tmp_path, s, set())

        assert twin_core.call(Command.SET_KILL, {"scope": "FIRM", "key": None, "level": "HALTED"}).ok
        s = scraper.until(lambda s: get(s, "colo_core_trading_state", **firm, state="HALTED") == 1
                          and (get(s, "colo_core_heartbeat_age_seconds", node="primary") or 9) < 1, "HALTED")
        assert [st for st in ("ACTIVE", "REDUCE_ONLY", "CANCEL_ONLY", "UNKNOWN")
                if get(s, "colo_core_trading_state", **firm, state=st) != 0] == []
        firing(tmp_path, s, {("CoreHalted", "primary")})


def test_scrape_when_core_down_then_staleness_is_finite_and_the_page_fires(
        twin_core: TwinHandle, tmp_path: Path) -> None:
    fast = {"timeout_ms": 300, "retries": 0}
    with exporter_on(twin_core, **fast) as scraper:
        scraper.until(lambda s: get(s, "colo_core_heartbeat_received", node="primary") == 1, "a heartbeat")
        twin_core.stop()  # the core goes away under a running exporter
        s = scraper.until(lambda s: (get(s, "colo_core_heartbeat_age_seconds", node="primary") or 0) > 1
                          and get(s, "colo_core_control_up", node="primary") == 0, "the heartbeat to go stale")
        check_types_and_values(s, scraper.families())
        assert get(s, "colo_core_heartbeat_received", node="primary") == 1  # heard once, now stale
        assert (get(s, "colo_core_last_heartbeat_timestamp_seconds", node="primary") or 0) > 1e9
        firing(tmp_path, s, {("CoreHeartbeatStale", "primary"), ("CoreControlUnreachable", "primary")})

    # An exporter started while no core is up: nothing heard, nothing acked; its node comes from Prometheus.
    with exporter_on(twin_core, **fast) as scraper:
        s = scraper.until(lambda s: get(s, "colo_core_control_up") == 0, "the first refresh")
        check_types_and_values(s, scraper.families())
        assert get(s, "colo_core_heartbeat_received") == 0
        assert get(s, "colo_core_last_heartbeat_timestamp_seconds") == 0
        age = get(s, "colo_core_heartbeat_age_seconds")
        assert age is not None and math.isfinite(age)
        assert get(s, "colo_core_trading_state", scope="firm", key="", state="UNKNOWN") == 1
        firing(tmp_path, s, {("CoreHeartbeatStale", "primary"), ("CoreControlUnreachable", "primary")})
        url = scraper.url

    with pytest.raises(urllib.error.URLError):  # the exporter gone: Prometheus records up == 0
        urllib.request.urlopen(url, timeout=2)  # noqa: S310
    firing(tmp_path, None, {("CoreHeartbeatStale", "primary")})
