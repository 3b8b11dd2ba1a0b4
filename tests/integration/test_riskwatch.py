"""The risk watcher against the real twin: a scripted reject storm on one account trips that account
through the audited client path; a core that does not answer is reported once and backed off from."""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from core_bridge.audit import AuditQuery, default_path, read_audit
from core_bridge.client.commands import CoreClient
from core_bridge.riskwatch.rules import load_rules
from core_bridge.riskwatch.service import RiskWatcher, WatchConfig
from hw.twin.launch import TwinHandle
from tests.polling import wait_for

CORECTL = str(Path(sys.executable).with_name("corectl"))
RULES = """approver = "cro"
reason = "test trips"
[settings]
eval_interval_s = 0.2
rate_window_s = 2
telemetry_max_age_s = 3

[[rule]]
name = "reject-storm"
metric = "reject_rate"
scope = "account"
key = "*"
comparison = ">"
threshold = 5
confirm_readings = 3
action = "CANCEL_ONLY"
cancel_all = true
cooldown_s = 600

[[rule]]
name = "telemetry-lost"
metric = "heartbeat_age"
scope = "firm"
comparison = ">"
threshold = 30
confirm_readings = 3
action = "REDUCE_ONLY"
cooldown_s = 600
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "trips.toml"
    path.write_text(RULES)
    return path


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()


def _collar_rejects(client: CoreClient, clordids: Iterator[int]) -> None:
    """A runaway strategy on PROP01: 20 orders priced 20 % through the collar (LIMIT_PRICE_COLLAR each)."""
    orders = [{"action": "new", "clordid": next(clordids), "account": "PROP01", "symbol": "AAPL", "side": "BUY",
               "qty": 100, "price": "276.00", "ord_type": "LIMIT", "tif": "DAY", "venue": "NSDQ"} for _ in range(20)]
    client.submit_orders(orders, reason="runaway strategy (test)")


def test_riskwatch_when_an_account_storms_rejects_then_it_is_tripped_audited_and_notified(
        twin_core: TwinHandle, rules_path: Path, webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, posted = webhook
    cfg = WatchConfig.from_settings(rules_path, webhook_url=url)
    watcher = RiskWatcher(cfg, load_rules(rules_path))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    status_file = twin_core.home / "run" / "riskwatch.json"
    try:
        def watching() -> bool:
            doc = json.loads(status_file.read_text()) if status_file.exists() else {}
            return bool(doc.get("core", {}).get("reachable")) and bool(doc.get("figures", {}).get("seeded"))

        wait_for(watching, what="the watcher reaching the core and seeding its book")
        with CoreClient.from_settings(identity="operator", operator="strategy") as c:
            clordids = itertools.count(1)

            def tripped() -> bool:
                if c.status().result["kill"]["account"].get("PROP01") == "CANCEL_ONLY":
                    return True
                _collar_rejects(c, clordids)
                return False

            wait_for(tripped, timeout=30, what="PROP01 tripped to CANCEL_ONLY by the watcher")
            kill = c.status().result["kill"]
        assert kill["account"] == {"PROP01": "CANCEL_ONLY"} and kill["firm"] == "ACTIVE"
        wait_for(lambda: bool(posted), what="the trip posted to the webhook")
    finally:
        stop.set()
        thread.join(timeout=10)

    records = read_audit(default_path(twin_core.home), AuditQuery(operator="riskwatch")).records
    kills = [r for r in records if r["command"] == "set_kill"]
    cancels = [r for r in records if r["command"] == "cancel_all"]
    assert len(kills) == 1 and len(cancels) == 1
    k = kills[0]
    assert (k["result"], k["scope"], k["key"], k["args"]["level"]) == ("ok", "account", "PROP01", "CANCEL_ONLY")
    assert "riskwatch rule reject-storm" in k["reason"] and "confirmed by 3 consecutive readings [" in k["reason"]
    assert "CANCEL_ONLY + cancel-all on account PROP01" in k["reason"] and cancels[0]["result"] == "ok"
    doc = json.loads(status_file.read_text())
    trip = doc["trips"][-1]
    assert (trip["rule"], trip["key"], trip["level"], trip["result"]) == ("reject-storm", "PROP01", "CANCEL_ONLY",
                                                                          "acked")
    assert len(trip["readings"]) == 3 and all(float(x["value"]) > 5 for x in trip["readings"])
    assert doc["trips_by_rule"] == [{"rule": "reject-storm", "scope": "account", "key": "PROP01", "count": 1}]
    assert posted[0]["rule"] == "reject-storm" and posted[0]["key"] == "PROP01" and posted[0]["source"] == "riskwatch"
    assert doc["figures"]["accounts"]["PROP01"]["rejects_by_reason"].get("LIMIT_PRICE_COLLAR") is not None
    assert doc["failsafe"] == "ok"
    from core_bridge.riskwatch.prom import RiskwatchCollector

    fams = {f.name: f for f in RiskwatchCollector(lambda: doc).collect()}
    assert [s.value for s in fams["colo_riskwatch_trips"].samples if s.name.endswith("_total")] == [1.0]


def test_riskwatch_when_the_core_does_not_answer_then_one_error_and_backoff(
        twin_core: TwinHandle, rules_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody serves: the core looks down
        s.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    cfg = WatchConfig.from_settings(rules_path, control=dead, timeout_ms=150, retries=0, backoff_min_s=0.2)
    watcher = RiskWatcher(cfg, load_rules(rules_path))
    stop = threading.Event()
    caplog.set_level(logging.WARNING, logger="core_bridge.riskwatch")
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: watcher.link.backoff_s >= 0.8, what="the watcher backing off (0.2, 0.4, 0.8 s)")
    finally:
        stop.set()
        thread.join(timeout=10)
    status = json.loads((twin_core.home / "run" / "riskwatch.json").read_text())
    assert status["core"]["reachable"] is False and status["core"]["outages"] == 1 and status["core"]["error"]
    loud = [r for r in caplog.records if r.levelno == logging.ERROR and "CANNOT REACH THE CORE" in r.getMessage()]
    assert len(loud) == 1  # once per outage, not once per retry


def test_corectl_riskwatch_when_checked_or_run_once_then_exit_codes_and_json(twin_core: TwinHandle,
                                                                            rules_path: Path) -> None:
    env = dict(os.environ)
    bad = rules_path.with_name("bad.toml")
    bad.write_text(RULES.replace('metric = "reject_rate"', 'metric = "reject_ratio"'))
    out = subprocess.run([CORECTL, "riskwatch", "--check", "--rules", str(bad)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 2 and "rule 'reject-storm': metric: unknown metric 'reject_ratio'" in out.stderr
    out = subprocess.run([CORECTL, "riskwatch", "--check", "--rules", str(rules_path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ok: 2 rule(s)")
    out = subprocess.run([CORECTL, "riskwatch", "--once", "--json", "--rules", str(rules_path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["core"]["reachable"] is True and doc["figures"]["seeded"] is True and doc["trips"] == []
    assert {s["rule"] for s in doc["rules_state"]} == {"reject-storm", "telemetry-lost"}
