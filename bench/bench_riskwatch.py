"""The risk watcher (issue 14 §4): detection-to-ack latency and drop-copy throughput with 100 rules.

Detection to ack: the watcher evaluates 100 rules against the real twin; one of them (order_rate on BENCH01,
2 confirmations, no cool-down) is breached by records folded into the book, so every second evaluation
confirms it and trips through the audited `CoreClient`. Measured from the evaluation that takes the
confirming reading (`Trip.at_s`, the watcher's clock) to the core's ack arriving back, including the other
99 rules of that evaluation; the same run measures the audited kill round trip as the baseline. Goal: p99
<= 1 heartbeat interval (100 ms: how old the telemetry a reading uses may be) + 2x the kill round trip p99.
`BENCH_RISKWATCH_TRIPS` trips (default 1,000).

Throughput: the twin streams synthetic records (`sim stream`, paced at `BENCH_RISKWATCH_RATE`, default
200,000 records/s, `BENCH_RISKWATCH_EVENTS` records, default 2,000,000) to a watcher running its real loop
in this process with the 100 rules evaluated every 0.5 s; kept up = every record folded, no drop-copy gap.
Its CPU share is this process's CPU time over the wall time of the stream (the twin is another process).
The same folding, offline on generated records of four accounts, 20 symbols and three venues, gives the
book's capacity in events per CPU second.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from bench.common import Figure, bench_main, emit, percentile

N_TRIPS = int(os.environ.get("BENCH_RISKWATCH_TRIPS", "1000"))
RATE = int(os.environ.get("BENCH_RISKWATCH_RATE", "200000"))
N_EVENTS = int(os.environ.get("BENCH_RISKWATCH_EVENTS", "2000000"))
HEARTBEAT_S = 0.1
ACCOUNTS = ("PROP01", "PROP02", "PROP03", "PROP04")
SYMBOLS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "INTC", "CSCO", "WMT", "JPM", "XOM", "JNJ",
           "BAC", "KO", "PFE", "T", "DIS", "IBM", "SPY")


def rules_doc(trip_rule: bool) -> dict[str, Any]:
    """100 rules over every metric and scope; with `trip_rule`, the first is the one the bench breaches."""
    rules: list[dict[str, Any]] = []
    if trip_rule:
        rules.append({"name": "bench-trip", "metric": "order_rate", "scope": "account", "key": "BENCH01",
                      "comparison": ">", "threshold": 10, "confirm_readings": 2, "action": "CANCEL_ONLY",
                      "cooldown_s": 0})
    kinds = [("pnl", "account", "*", "<", "-100000000"), ("gross_exposure", "account", "*", ">", "900000000"),
             ("order_rate", "account", "*", ">", 10_000_000), ("reject_rate", "venue", "*", ">", 10_000_000),
             ("fill_rate", "symbol", "*", ">", 10_000_000), ("concentration", "firm", None, ">", "2"),
             ("net_exposure", "symbol", "*", ">", "900000000"), ("heartbeat_age", "firm", None, ">", 3600),
             ("realized_pnl", "firm", None, "<", "-900000000"), ("unrealized_pnl", "account", "*", "<", "-9e8")]
    i = 0
    while len(rules) < 100:
        metric, scope, key, cmp, thr = kinds[i % len(kinds)]
        r = {"name": f"r{i:03d}-{metric}", "metric": metric, "scope": scope, "comparison": cmp,
             "threshold": thr, "confirm_readings": 3, "action": "REDUCE_ONLY", "cooldown_s": 60}
        if key is not None:
            r["key"] = key
        rules.append(r)
        i += 1
    return {"approver": "bench", "reason": "bench", "settings": {"eval_interval_s": 0.5, "rate_window_s": 1},
            "rule": rules}


def _records(n: int, *, account: bytes | None = None) -> Any:
    import numpy as np

    from core_bridge.protocol import new_events

    recs = new_events(n)
    rng = np.random.default_rng(7)
    etypes = np.array([1, 2, 3, 7, 7, 8, 5, 6], dtype=np.uint8)  # a day's mix: half of them counted
    recs["etype"] = etypes[rng.integers(0, len(etypes), n)]
    recs["account"] = account or np.array([a.encode() for a in ACCOUNTS], dtype="S8")[rng.integers(0, 4, n)]
    recs["symbol"] = np.array([s.encode() for s in SYMBOLS], dtype="S8")[rng.integers(0, len(SYMBOLS), n)]
    recs["venue"] = rng.integers(1, 4, n)
    recs["side"] = rng.integers(1, 3, n)
    recs["last_qty"], recs["last_px"] = 100, 2_300_000
    return recs


def offline_capacity(n: int = 1_000_000) -> tuple[float, float]:
    """(events per CPU second folding batches of 1,000 with 100 rules every 0.5 s at RATE, CPU s per eval)."""
    from core_bridge.riskwatch.engine import Engine
    from core_bridge.riskwatch.metrics import RiskBook
    from core_bridge.riskwatch.rules import parse_rules

    rules = parse_rules(rules_doc(False))
    book, engine = RiskBook(1.0, 5.0, started_s=0.0), Engine(rules)
    book.on_telemetry(b"marks", {"marks": dict.fromkeys(SYMBOLS, "100")}, 0.0)
    book.on_telemetry(b"pos", {"positions": {a: {"AAPL": 100} for a in ACCOUNTS}}, 0.0)
    book.on_telemetry(b"hb", {"node": "primary"}, 0.0)
    recs = _records(n)
    per_eval = int(RATE * 0.5)
    evals, eval_cpu = 0, 0.0
    t0 = time.process_time()
    for i in range(0, n, 1000):
        now = i / RATE
        book.on_records(recs[i:i + 1000], now)
        if (i + 1000) % per_eval == 0:
            book.on_telemetry(b"hb", {"node": "primary"}, now)
            book.on_telemetry(b"marks", {"marks": dict.fromkeys(SYMBOLS, "100")}, now)
            e0 = time.process_time()
            engine.evaluate(book.reading, book.keys, now)
            eval_cpu += time.process_time() - e0
            evals += 1
    cpu = time.process_time() - t0
    return n / cpu, eval_cpu / max(1, evals)


def detection_to_ack(home: Any, n_trips: int) -> tuple[list[float], list[float]]:
    """(reading -> ack ms per trip, audited kill round trip ms) against one twin."""
    from core_bridge.client.commands import CoreClient
    from core_bridge.riskwatch.rules import parse_rules
    from core_bridge.riskwatch.service import RiskWatcher, WatchConfig
    from hw.twin.launch import start_twin

    twin = start_twin(home)
    try:
        cfg = WatchConfig.from_settings(home / "trips.toml", control=twin.endpoints["control"],
                                        telemetry=twin.endpoints["telemetry"])
        cfg.dropcopy_endpoints = [twin.endpoints["dropcopy"]]
        watcher = RiskWatcher(cfg, parse_rules(rules_doc(True)))
        acks: list[float] = []
        real = watcher.client.set_kill

        def timed_kill(*a: Any, **kw: Any) -> Any:
            reply = real(*a, **kw)
            acks.append(time.time())
            return reply

        watcher.client.set_kill = timed_kill  # type: ignore[method-assign]
        burst = _records(50, account=b"BENCH01")
        burst["etype"] = 1  # 50 new orders per reading: order_rate 50/s over the 1 s window, threshold 10
        lat: list[float] = []
        while len(lat) < n_trips:
            now = time.time()
            watcher.book.on_records(burst, now)
            trips = watcher.evaluate(now)
            if trips:
                assert watcher.trips[-1]["result"] == "acked", watcher.trips[-1]
                lat.append((acks[-1] - trips[0].at_s) * 1000)
        watcher.close()
        rtt: list[float] = []
        with CoreClient(twin.endpoints["control"], twin.keys_dir, identity="operator", operator="bench") as c:
            for _ in range(n_trips):
                t0 = time.perf_counter()
                c.set_kill("account", "BENCH01", "CANCEL_ONLY", "bench kill round trip")
                rtt.append((time.perf_counter() - t0) * 1000)
        return lat, rtt
    finally:
        twin.stop()


def live_throughput(home: Any) -> dict[str, float]:
    """The watcher's real loop on a paced twin stream: events folded, gaps, wall and CPU seconds."""
    from core_bridge.client.commands import CoreClient
    from core_bridge.riskwatch.rules import parse_rules
    from core_bridge.riskwatch.service import RiskWatcher, WatchConfig
    from hw.twin.launch import start_twin

    twin = start_twin(home / "stream")
    stop = threading.Event()
    try:
        cfg = WatchConfig.from_settings(home / "trips.toml", control=twin.endpoints["control"],
                                        telemetry=twin.endpoints["telemetry"], keys_dir=twin.keys_dir)
        cfg.dropcopy_endpoints, cfg.status_path = [twin.endpoints["dropcopy"]], None
        watcher = RiskWatcher(cfg, parse_rules(rules_doc(False)))
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not watcher.book.heartbeats and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the drop-copy subscription joins (a missed first batch would count as lost)
        with CoreClient(twin.endpoints["control"], twin.keys_dir, identity="operator", operator="bench") as c:
            before = watcher.book.events
            w0, c0 = time.monotonic(), time.process_time()
            c.sim("stream", count=N_EVENTS, batch=1000, rate=RATE)
            first: tuple[float, int] | None = None  # the stream's rate is timed from its first folded batch
            while watcher.book.events - before < N_EVENTS and time.monotonic() - w0 < N_EVENTS / RATE * 3 + 10:
                if first is None and watcher.book.events > before:
                    first = (time.monotonic(), watcher.book.events)
                time.sleep(0.002)
            end, cpu = time.monotonic(), time.process_time() - c0
        folded = watcher.book.events - before
        t1, n1 = first or (w0, before)
        return {"folded": folded, "gaps": watcher.counts.dc_gaps, "wall": end - w0, "cpu": cpu,
                "rate": (watcher.book.events - n1) / max(1e-9, end - t1)}
    finally:
        stop.set()
        twin.stop()


@bench_main("riskwatch")
def main() -> None:
    import logging
    from pathlib import Path

    logging.getLogger("core_bridge.riskwatch").setLevel(logging.ERROR)  # one WARNING line per trip otherwise
    home = Path(os.environ["COLO_OPS_HOME"])
    lat, rtt = detection_to_ack(home, N_TRIPS)
    capacity, eval_cpu = offline_capacity()
    live = live_throughput(home)
    p99_lat, p99_rtt = percentile(lat, 99), percentile(rtt, 99)
    budget = HEARTBEAT_S * 1000 + 2 * p99_rtt
    share = live["cpu"] / live["wall"]
    kept_up = live["folded"] >= N_EVENTS and live["gaps"] == 0
    emit("riskwatch", [
        Figure("detection to ack p50 (confirming reading -> core ack, 100 rules)", percentile(lat, 50), "ms",
               percentile(rtt, 50), "kill round trip p50"),
        Figure("detection to ack p99 (confirming reading -> core ack, 100 rules)", p99_lat, "ms", p99_rtt,
               "kill round trip p99", f"<= 1 heartbeat ({HEARTBEAT_S * 1000:.0f} ms) + 2x kill RTT p99 = "
               f"{budget:.3f} ms", p99_lat <= budget),
        Figure("kill round trip p99 (CoreClient, audited)", p99_rtt, "ms"),
        Figure(f"live: drop-copy events folded per s (twin stream paced at {RATE:,}/s, 100 rules)", live["rate"],
               "events/s", float(RATE), "stream pace", f">= {RATE:,}/s with no record lost",
               kept_up and live["rate"] >= RATE * 0.97),
        Figure("live: events folded of those streamed", live["folded"], "events", float(N_EVENTS), "streamed"),
        Figure("live: drop-copy gaps seen", float(live["gaps"]), "gaps"),
        Figure("live: watcher CPU share (process CPU / wall) at that pace", share * 100, "% of one core"),
        Figure("offline: book capacity (fold + 100 rules every 0.5 s)", capacity, "events/CPU s", float(RATE),
               "goal rate", f">= {RATE:,}", capacity >= RATE),
        Figure("offline: CPU share needed at the goal rate", RATE / capacity * 100, "% of one core"),
        Figure("offline: one evaluation of 100 rules", eval_cpu * 1000, "ms CPU"),
    ])

