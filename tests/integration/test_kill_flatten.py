"""Kill to flat against the real twin: resting orders on all three venues and open positions; `corectl kill
--flatten` ends `flat` with every order in the timeline; a kill arriving during the flatten loses to the
flatten's tighter HALTED; a flatten order the gate rejects makes the outcome partial, naming what is open."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from core_bridge.audit import AuditQuery, default_path, read_audit
from core_bridge.client.commands import CoreClient
from core_bridge.killflat.machine import FlattenFlow
from core_bridge.killflat.runner import FlattenConfig, run_flatten
from core_bridge.protocol import KillScope
from hw.twin.launch import TwinHandle

CORECTL = str(Path(sys.executable).with_name("corectl"))
RESTING = [  # (account, symbol, side, qty, price, venue): none marketable, all inside the 5 % collar
    ("PROP01", "AAPL", "BUY", 100, "225.00", "NSDQ"),
    ("PROP01", "JPM", "SELL", 50, "214.00", "NYSE"),
    ("PROP01", "SPY", "BUY", 10, "560.00", "ARCA"),
    ("PROP01", "MSFT", "BUY", 20, "415.00", "ARCA"),
    ("PROP02", "AAPL", "BUY", 100, "226.00", "NSDQ"),  # another account: must stay working
]


def _seed(c: CoreClient) -> list[int]:
    c.set_sod_positions("2026-12-07", {"PROP01": {"AAPL": 300, "MSFT": -200}, "PROP02": {"AAPL": 100}},
                        reason="test positions")
    orders = [{"action": "new", "clordid": i + 1, "account": a, "symbol": s, "side": side, "qty": q, "price": px,
               "ord_type": "LIMIT", "tif": "DAY", "venue": v} for i, (a, s, side, q, px, v) in enumerate(RESTING)]
    res = c.submit_orders(orders, reason="resting orders (test)").result["results"]
    assert all(r["ok"] for r in res), res
    return [int(r["order_id"]) for r in res]


def _positions(c: CoreClient) -> dict[str, Any]:
    return dict(c.snapshot().result["positions"])


def test_kill_flatten_when_orders_rest_on_three_venues_then_flat_with_every_order_in_the_timeline(
        twin_core: TwinHandle) -> None:
    with CoreClient.from_settings(identity="operator", operator="jdoe") as c:
        ids = _seed(c)
        out = subprocess.run([CORECTL, "kill", "--account", "PROP01", "--flatten", "--reason", "runaway algo INC-9",
                              "--json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        doc = json.loads(out.stdout)
        status = c.status().result
        positions = _positions(c)
    assert doc["outcome"] == "flat" and doc["still_open"] == []
    assert status["kill"]["account"] == {"PROP01": "HALTED"} and "PROP01" not in positions
    assert positions["PROP02"] == {"AAPL": 100} and status["orders_working"] == 1  # PROP02's order untouched
    listed = {o["order_id"]: o for o in doc["resting_orders"]}
    assert set(listed) == set(ids[:4]) and all(o["gone"] == "cancelled" for o in listed.values())
    by_venue = doc["timeline"]
    acks = {(e["venue"], e["order_id"]) for e in by_venue if e["event"] == "cancel_ack"}
    assert acks == {("NSDQ", ids[0]), ("NYSE", ids[1]), ("ARCA", ids[2]), ("ARCA", ids[3])}
    assert {e["venue"] for e in by_venue if e["event"] == "venue_clear"} == {"NSDQ", "NYSE", "ARCA"}
    flat_orders = {(f["symbol"], f["side"], f["qty"], f["filled"], f["done"]) for f in doc["flatten_orders"]}
    assert flat_orders == {("AAPL", "SELL", 300, 300, "filled"), ("MSFT", "BUY", 200, 200, "filled")}
    fills = [e for e in by_venue if e["event"] == "fill"]
    assert sum(int(e["detail"].split()[1]) for e in fills) == 500
    events = [e["event"] for e in by_venue]
    assert events[0] == "command" and events[-1] == "flat"
    assert events.index("flatten_order") > max(i for i, e in enumerate(events) if e == "venue_clear")
    report = Path(doc["report"]["json"])
    assert report.parent.name == "kills" and report.parent.parent.parent.name == "reports"
    assert json.loads(report.read_text())["outcome"] == "flat"
    html = Path(doc["report"]["html"]).read_text()
    assert all(str(i) in html for i in ids[:4]) and ">flat<" in html
    audit = [r for r in read_audit(default_path(twin_core.home), AuditQuery()).records
             if r["reason"].startswith("kill to flat: runaway algo INC-9")]
    assert [r["command"] for r in audit] == ["set_kill", "cancel_all", "submit_orders"]
    assert all(r["result"] == "ok" and r["operator"] for r in audit)


def test_kill_flatten_when_a_looser_kill_arrives_during_it_then_halted_wins_and_it_ends_flat(
        twin_core: TwinHandle) -> None:
    sent: list[str] = []

    def trip_during(phase: str, flow: FlattenFlow) -> None:
        if phase == "flattening" and not sent:  # a watcher's REDUCE_ONLY trip lands mid-flatten
            with CoreClient.from_settings(identity="operator", operator="riskwatch") as other:
                other.set_kill("account", "PROP01", "REDUCE_ONLY", "riskwatch rule account-loss (test)")
            sent.append(phase)

    with CoreClient.from_settings(identity="operator", operator="jdoe") as c:
        _seed(c)
        cfg = FlattenConfig(twin_core.endpoints["dropcopy"], twin_core.endpoints["rewind"],
                            twin_core.endpoints["telemetry"], twin_core.home / "keys")
        doc = run_flatten(c, cfg, KillScope.ACCOUNT, "PROP01", "loss limit", hook=trip_during)
        level = c.status().result["kill"]["account"].get("PROP01")
        positions = _positions(c)
    assert sent == ["flattening"]
    assert doc["outcome"] == "flat" and level == "HALTED" and "PROP01" not in positions
    seen = [e for e in doc["timeline"] if e["event"] in ("kill_seen", "reassert")]
    assert [e["event"] for e in seen] == ["kill_seen", "reassert"]
    assert "account PROP01 -> REDUCE_ONLY" in seen[0]["detail"] and "tighter" in seen[1]["detail"]


def test_kill_flatten_when_a_flatten_order_is_rejected_then_exit_7_naming_the_open_position(
        twin_core: TwinHandle) -> None:
    with CoreClient.from_settings(identity="operator", operator="jdoe") as c:
        _seed(c)
        c.set_restricted(["MSFT"], reason="restricted list (test)")  # the gate refuses MSFT: no flatten possible
        out = subprocess.run([CORECTL, "kill", "--account", "PROP01", "--flatten", "--reason", "test", "--json"],
                             capture_output=True, text=True, timeout=60)
        positions = _positions(c)
    assert out.returncode == 7, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["ok"] is False and doc["outcome"] == "partial" and doc["exit_code"] == 7
    assert doc["rejected"][0]["symbol"] == "MSFT" and doc["rejected"][0]["code"] == "RESTRICTED_SYMBOL"
    assert any("MSFT for PROP01 rejected RESTRICTED_SYMBOL" in p for p in doc["still_open"])
    assert positions["PROP01"] == {"MSFT": -200}  # AAPL flattened, MSFT still open, said so


FLATTEN_RULES = """approver = "cro"
reason = "test trips"
[settings]
eval_interval_s = 0.2
rate_window_s = 2

[[rule]]
name = "runaway-flatten"
metric = "reject_rate"
scope = "account"
key = "*"
comparison = ">"
threshold = 5
confirm_readings = 3
action = "FLATTEN"
cooldown_s = 600
"""


def test_riskwatch_when_a_flatten_rule_trips_then_the_account_is_flattened_and_reported(
        twin_core: TwinHandle, tmp_path: Path) -> None:
    import itertools
    import threading

    from core_bridge.riskwatch.rules import load_rules
    from core_bridge.riskwatch.service import RiskWatcher, WatchConfig
    from tests.polling import wait_for

    rules = tmp_path / "trips.toml"
    rules.write_text(FLATTEN_RULES)
    watcher = RiskWatcher(WatchConfig.from_settings(rules), load_rules(rules))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        with CoreClient.from_settings(identity="operator", operator="strategy") as c:
            ids = _seed(c)
            wait_for(lambda: bool(watcher.last_status().get("figures", {}).get("seeded")),
                     what="the watcher seeding its book")
            clordids = itertools.count(100)

            def storm() -> bool:  # a runaway strategy: orders priced 20 % through the collar
                if c.status().result["kill"]["account"].get("PROP01") == "HALTED":
                    return True
                c.submit_orders([{"action": "new", "clordid": next(clordids), "account": "PROP01", "symbol": "AAPL",
                                  "side": "BUY", "qty": 100, "price": "276.00", "ord_type": "LIMIT", "tif": "DAY",
                                  "venue": "NSDQ"} for _ in range(20)], reason="runaway strategy (test)")
                return False

            wait_for(storm, timeout=30, what="PROP01 tripped to HALTED by the FLATTEN rule")
            wait_for(lambda: bool(watcher.flattener.status()["done"]), timeout=30, what="the flatten finishing")
            positions = _positions(c)
    finally:
        stop.set()
        thread.join(timeout=30)
    done = watcher.flattener.status()["done"][0]
    assert done["outcome"] == "flat" and done["rule"] == "runaway-flatten" and done["key"] == "PROP01", done
    assert done["resting_orders"] == 4 and "PROP01" not in positions
    report = json.loads(Path(done["report"]["json"]).read_text())
    assert {o["order_id"] for o in report["resting_orders"]} == set(ids[:4])
    assert report["operator"] == "riskwatch" and "riskwatch rule runaway-flatten" in report["reason"]
