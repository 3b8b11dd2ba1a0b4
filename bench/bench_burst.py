"""Burst: the twin takes 100,000 orders/s for >= 10 s and the drop copy -> capture -> journal path keeps up.

Where the orders come from: the twin's in-process order generator, not the control plane. The real core
gets its order flow from the strategies running inside it; the control plane (`submit_orders`) is the
operators' path and never carries a burst. The generator is the twin's `sim stream` paced at a rate
(docs/protocol.md §10): every order is four drop-copy records (ORDER_NEW, ORDER_ROUTED, ORDER_ACKED,
ORDER_FILLED), taking ordinary seqs from the sequencer, written to the twin's event log (rewind serves
them) and published in batches of 1,000 records per drop-copy message, so 100,000 orders/s is 400,000
records/s on the wire.

Why not the twin's gated flow (`sim start_flow`, every order through the Python risk gate): that gate does
about 30,000 orders/s on one core here (`gated_flow_rate`, measured in the same run), a limit of the twin's
Python engine, not of the wire protocol or the capture; the real core's gate is C. The wire format needed
no change: one 20-byte header per 1,000 records already makes a message ~128 KB, and the capture appends
each message as one numpy block.

    burst_order_rate        orders/s over the burst, from the journal's own stamps (first to last record),
                            vs the same records over a bare PUB/SUB (plain TCP, no CURVE, no journal)
    burst_min_1s_rate       the slowest whole second of the burst (the rate is *held*, not averaged)
    burst_lost / burst_dup  seqs missing from / repeated in the journal over the burst's seq range
    capture_lag_p50/p99     core stamp -> durable in the journal (fdatasync'd), observed by polling the
                            journal's durable watermark every millisecond, vs the bare PUB/SUB's stamp ->
                            receive lag at the same pace
    journal_problems        `corectl journal verify` over the journal afterwards (CRC, seqs, hash chain)

Sizes: BENCH_BURST_ORDERS_PER_S (default 100,000), BENCH_BURST_SECONDS (default 12). About 1 min.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zmq

from bench.common import Figure, bench_main, emit, percentile
from core_bridge.journal.reader import iter_records
from core_bridge.journal.segment import read_durable
from core_bridge.journal.verify import verify
from core_bridge.protocol import DROPCOPY_TOPIC, EventType, decode_batch, encode_batch
from hw.twin.launch import TwinHandle, start_twin
from hw.twin.stream import SyntheticStream

ORDERS_PER_S = int(os.environ.get("BENCH_BURST_ORDERS_PER_S", "100000"))
SECONDS = float(os.environ.get("BENCH_BURST_SECONDS", "12"))
RECORDS_PER_ORDER = 4
BATCH = 1000
GOAL_RATE = 100_000
GOAL_SECONDS = 10.0
GATED_SECONDS = 3.0


# ------------------------------------------------------------------------------------------ pure checks
def seq_check(seqs: np.ndarray, first: int, last: int) -> tuple[int, int]:
    """(lost, duplicated) seqs of first..last in `seqs`."""
    inside = seqs[(seqs >= first) & (seqs <= last)]
    uniq = np.unique(inside)
    return int(last - first + 1 - len(uniq)), int(len(inside) - len(uniq))


def per_second_rates(ts_ns: np.ndarray, per_item: int = 1) -> list[float]:
    """Items per whole second from the first stamp (the last, partial second left out)."""
    if len(ts_ns) == 0:
        return []
    rel = (ts_ns - ts_ns[0]) // 1_000_000_000
    counts = np.bincount(rel.astype(np.int64))
    return [float(c) / per_item for c in counts[:-1]]


def lags_ms(observed: list[tuple[int, int]], seqs: np.ndarray, ts_ns: np.ndarray) -> list[float]:
    """Lag of each newly durable seq: when it was seen durable minus the core's stamp of that record
    (`seqs` ascending and unique, `ts_ns` beside them)."""
    out = []
    for t_ns, seq in observed:
        i = int(np.searchsorted(seqs, seq))
        if i < len(seqs) and int(seqs[i]) == seq:
            out.append((t_ns - int(ts_ns[i])) / 1e6)
    return out


# ------------------------------------------------------------------------------------------ baseline
def bare_pubsub(orders_per_s: int, seconds: float) -> tuple[float, list[float]]:
    """The same records, paced the same, over a plain PUB/SUB in one process: (orders/s, lag ms per batch)."""
    n = int(orders_per_s * seconds) * RECORDS_PER_ORDER
    gen = SyntheticStream(1)
    ctx = zmq.Context()
    pub, sub = ctx.socket(zmq.XPUB), ctx.socket(zmq.SUB)
    pub.sndhwm = sub.rcvhwm = 0
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub.setsockopt(zmq.SUBSCRIBE, DROPCOPY_TOPIC)
    sub.connect(f"tcp://127.0.0.1:{port}")
    pub.recv()  # subscribed
    rate = orders_per_s * RECORDS_PER_ORDER

    def publish() -> None:
        t0, sent = time.monotonic_ns(), 0
        while sent < n:
            due = min(n, (time.monotonic_ns() - t0) * rate // 1_000_000_000)
            while sent + BATCH <= due or (due == n and sent < n):
                k = min(BATCH, n - sent)
                hdr, payload = encode_batch(gen.batch(sent + 1, k, time.time_ns()))
                pub.send_multipart([DROPCOPY_TOPIC, hdr, payload], copy=False)
                sent += k
            time.sleep(0.0005)

    th = threading.Thread(target=publish)
    got, lags, first_ts, last_ts = 0, [], 0, 0
    th.start()
    while got < n:
        frames = sub.recv_multipart(copy=False)
        now = time.time_ns()
        _, recs = decode_batch(frames[1].bytes, frames[2].buffer)  # type: ignore[arg-type]
        got += len(recs)
        first_ts = first_ts or int(recs["ts_ns"][0])
        last_ts = int(recs["ts_ns"][-1])
        lags.append((now - int(recs["ts_ns"][-1])) / 1e6)
    th.join()
    pub.close(0)
    sub.close(0)
    ctx.term()
    return n / RECORDS_PER_ORDER / max(1e-9, (last_ts - first_ts) / 1e9), lags


# ------------------------------------------------------------------------------------------ the twin
def _start_capture(twin: TwinHandle, work: Path, jdir: Path) -> subprocess.Popen[bytes]:
    with (work / "capture.log").open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "core_bridge.dropcopy", "--home", str(work / "capture-home"),
             "--keys", str(twin.keys_dir), "--dropcopy", twin.endpoints["dropcopy"],
             "--rewind", twin.endpoints["rewind"], "--control", twin.endpoints["control"], "--journal", str(jdir)],
            stdout=fh, stderr=fh)


def _wait_durable(jdir: Path, seq: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (read_durable(jdir) or {}).get("seq", 0) < seq:
        if time.monotonic() > deadline:
            raise TimeoutError(f"capture did not make seq {seq} durable within {timeout_s} s")
        time.sleep(0.002)


def gated_flow_rate(twin: TwinHandle, jdir: Path) -> float:
    """Orders/s the twin's risk gate takes from its simulated strategies (`sim start_flow` at 100,000/s)."""
    s0 = int(twin.call("status").result["last_seq"])
    twin.call("sim", {"action": "start_flow", "rate": 100_000, "seed": 7})
    time.sleep(GATED_SECONDS)
    twin.call("sim", {"action": "stop_flow"})
    s1 = int(twin.call("status").result["last_seq"])
    _wait_durable(jdir, s1, 60)
    recs = np.concatenate(list(iter_records(jdir)))
    recs = recs[(recs["seq"] > s0) & (recs["seq"] <= s1)]
    orders = recs[np.isin(recs["etype"], [int(EventType.ORDER_NEW), int(EventType.ORDER_REJECTED)])]
    span = (int(orders["ts_ns"][-1]) - int(orders["ts_ns"][0])) / 1e9 if len(orders) > 1 else 0.0
    return len(orders) / span if span > 0 else 0.0


def burst(twin: TwinHandle, jdir: Path) -> dict[str, object]:
    n = int(ORDERS_PER_S * SECONDS) * RECORDS_PER_ORDER
    observed: list[tuple[int, int]] = []
    done = threading.Event()

    def watch() -> None:  # the durable watermark as the capture publishes it, every millisecond
        last = 0
        while not done.is_set():
            seq = (read_durable(jdir) or {}).get("seq", 0)
            if seq > last:
                observed.append((time.time_ns(), seq))
                last = seq
            time.sleep(0.001)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    rep = twin.call("sim", {"action": "stream", "count": n, "batch": BATCH,
                            "rate": ORDERS_PER_S * RECORDS_PER_ORDER})
    first = int(rep.result["first_seq"])
    last = first + n - 1
    _wait_durable(jdir, last, SECONDS * 4 + 60)
    done.set()
    th.join()
    recs = np.concatenate(list(iter_records(jdir)))
    recs = recs[recs["epoch"] == int(rep.result["epoch"])]
    lost, dup = seq_check(recs["seq"], first, last)
    mine = recs[(recs["seq"] >= first) & (recs["seq"] <= last)]
    _, keep = np.unique(mine["seq"], return_index=True)
    mine = mine[keep]
    span = (int(mine["ts_ns"][-1]) - int(mine["ts_ns"][0])) / 1e9
    return {"orders": n // RECORDS_PER_ORDER, "seconds": span, "rate": n / RECORDS_PER_ORDER / span,
            "per_second": per_second_rates(mine["ts_ns"], RECORDS_PER_ORDER), "lost": lost, "dup": dup,
            "lags": lags_ms([o for o in observed if first <= o[1] <= last], mine["seq"], mine["ts_ns"])}


@bench_main("burst")
def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    try:
        base_rate, base_lags = bare_pubsub(ORDERS_PER_S, min(SECONDS, 5.0))
        twin = start_twin(work / "twin-home", "primary")
        jdir = work / "capture-journal"
        proc = _start_capture(twin, work, jdir)
        try:
            warm = twin.call("sim", {"action": "stream", "count": 10_000, "batch": BATCH}).result
            _wait_durable(jdir, int(warm["first_seq"]) + 9_999, 60)
            gated = gated_flow_rate(twin, jdir)
            res = burst(twin, jdir)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            twin.stop()
        report = verify(jdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lags = res["lags"]
    assert isinstance(lags, list)
    per_s = res["per_second"]
    assert isinstance(per_s, list)
    rate, seconds = float(res["rate"]), float(res["seconds"])  # type: ignore[arg-type]
    emit("burst", [
        Figure("burst_order_rate", rate, "orders/s", base_rate, "bare PUB/SUB of the same records",
               goal=f">= {GOAL_RATE:,} orders/s for >= {GOAL_SECONDS:.0f} s",
               met=rate >= GOAL_RATE * 0.99 and seconds >= GOAL_SECONDS),
        Figure("burst_seconds", seconds, "s"),
        Figure("burst_min_1s_rate", min(per_s) if per_s else 0.0, "orders/s", goal=f">= {GOAL_RATE * 0.99:,.0f}",
               met=bool(per_s) and min(per_s) >= GOAL_RATE * 0.99),
        Figure("burst_lost_events", float(res["lost"]), "events", goal="0", met=res["lost"] == 0),  # type: ignore[arg-type]
        Figure("burst_duplicate_events", float(res["dup"]), "events", goal="0", met=res["dup"] == 0),  # type: ignore[arg-type]
        Figure("capture_lag_p50", percentile(lags, 50), "ms", percentile(base_lags, 50), "bare PUB/SUB lag p50"),
        Figure("capture_lag_p99", percentile(lags, 99), "ms", percentile(base_lags, 99), "bare PUB/SUB lag p99"),
        Figure("capture_lag_max", max(lags) if lags else float("nan"), "ms"),
        Figure("journal_problems", float(len(report.problems)), "problems", goal="0 (journal verifies)",
               met=report.ok),
        Figure("gated_flow_rate", gated, "orders/s"),  # the twin's Python risk gate (module docstring)
    ])
    print(f"burst: {res['orders']:,} orders ({int(res['orders']) * RECORDS_PER_ORDER:,} records) "  # type: ignore[call-overload]
          f"in {seconds:.2f} s; journal {report.records:,} records, {len(report.problems)} problems", flush=True)


if __name__ == "__main__":
    main()
