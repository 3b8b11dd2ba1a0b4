"""The demo day's automatic trip: a scripted runaway account trips a FLATTEN rule of the risk watcher, which
halts it, cancels its orders, flattens its position and reports `flat`, in the ops report (the kill's
timeline under reports/<date>/kills/) and in Prefect (an event and a markdown artifact).

Why scripted after the session: the trip must be the runaway's, not the simulated flow's, so the watcher
starts once the flow has stopped; the runaway first buys (a position to flatten), then sends orders through
the price collar until the watcher's reject-rate rule confirms (3 readings) and trips.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from decimal import Decimal
from typing import Any

from core_bridge.settings import Settings

RUNAWAY = "PROP03"
RULES = f"""approver = "chief-risk-officer"
reason = "demo day: the runaway-account trip"
[settings]
eval_interval_s = 0.2
rate_window_s = 2

[[rule]]
name = "runaway-account"
description = "an account's orders rejected at over 20 per second: halt it and flatten it"
metric = "reject_rate"
scope = "account"
key = "{RUNAWAY}"
comparison = ">"
threshold = 20
confirm_readings = 3
action = "FLATTEN"
cooldown_s = 600
"""
DEADLINE_S = 60.0


def runaway_trip(settings: Settings, day: dt.date, *, skip: bool = False) -> dict[str, Any]:
    """`skip`: a same-seed replay (the chaos run) must give the same events, so no timed, scripted trip."""
    if skip:
        return {"skipped": "reproducible day: no scripted trip"}
    from core_bridge.client.commands import CoreClient
    from core_bridge.riskwatch.rules import load_rules
    from core_bridge.riskwatch.service import RiskWatcher, WatchConfig

    rules = settings.run_dir / "demo-trips.toml"
    rules.write_text(RULES)
    cfg = WatchConfig.from_settings(rules, kills_dir=settings.reports_dir(day.isoformat()) / "kills")
    watcher = RiskWatcher(cfg, load_rules(rules))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), name="demo-riskwatch", daemon=True)
    thread.start()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not (watcher.book.seeded and watcher.link.reachable and "AAPL" in watcher.book.marks) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        mark = watcher.book.marks["AAPL"][0]  # the market's reference price: buy through it, then far above it
        buy, wild = (format(round(mark * Decimal(m), 2), "f") for m in ("1.01", "1.20"))
        with CoreClient.from_settings(identity="operator", operator="runaway-strategy", settings=settings) as c:
            ids = itertools.count(9_000_000)
            c.submit_orders([_order(next(ids), "BUY", 300, buy)], reason="demo runaway: buys")
            while not watcher.flattener.status()["done"] and time.monotonic() < deadline:
                if c.status().result["kill"]["account"].get(RUNAWAY) != "HALTED":
                    c.submit_orders([_order(next(ids), "BUY", 100, wild) for _ in range(20)],
                                    reason="demo runaway: orders through the collar")
                time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=30)
    done = watcher.flattener.status()["done"]
    if not done:
        raise RuntimeError(f"the runaway account {RUNAWAY} was not tripped and flattened in {DEADLINE_S:g} s")
    summary = dict(done[0])
    _tell_prefect(settings, summary)
    return {"rule": summary["rule"], "account": summary["key"], "outcome": summary["outcome"],
            "flatten_orders": summary.get("flatten_orders"), "report": (summary.get("report") or {}).get("html")}


def _order(clordid: int, side: str, qty: int, price: str) -> dict[str, Any]:
    return {"action": "new", "clordid": clordid, "account": RUNAWAY, "symbol": "AAPL", "side": side, "qty": qty,
            "price": price, "ord_type": "LIMIT", "tif": "IOC", "venue": "NSDQ"}


def _tell_prefect(settings: Settings, summary: dict[str, Any]) -> None:
    """An event (`colo-ops.riskwatch.flatten`) and the markdown artifact `riskwatch-trip`."""
    from prefect.events import emit_event

    from flows.orchestration.artifacts import publish_report

    emit_event(event=f"colo-ops.riskwatch.flatten.{summary['outcome']}",
               resource={"prefect.resource.id": f"colo-ops.account.{summary['key']}",
                         "prefect.resource.name": str(summary["key"])},
               payload={k: summary.get(k) for k in ("rule", "scope", "key", "outcome", "still_open", "elapsed_ms",
                                                    "flatten_orders", "resting_orders")})
    report = summary.get("report") or {}
    md = (f"# Risk watcher trip: {summary['rule']}\n\nAccount {summary['key']} tripped rule `{summary['rule']}` "
          f"(FLATTEN): HALTED, {summary.get('resting_orders')} resting order(s) confirmed cancelled, "
          f"{summary.get('flatten_orders')} flatten order(s), outcome **{summary['outcome']}** in "
          f"{summary.get('elapsed_ms')} ms. Still open: {'; '.join(summary.get('still_open') or []) or 'nothing'}.\n")
    publish_report("riskwatch-trip", md, [p for p in (report.get("html"), report.get("json")) if p],
                   settings=settings, description="The demo day's automatic trip and its kill to flat")
