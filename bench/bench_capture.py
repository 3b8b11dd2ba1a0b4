"""Drop-copy capture rate, end to end, vs an in-process baseline measured in the same run.

    capture_rate         twin `sim stream` -> CURVE PUB/SUB -> capture process (`python -m core_bridge.dropcopy`)
                         -> CRC'd journal, group-committed with fdatasync; timed from the stream command until
                         durable.json reports the last seq (what is reported durable has been fsynced)
    baseline             the same records (same generator, same batch size) decoded from wire frames and
                         appended to a CRC'd journal with the same group commit, in one process, no network
    curve_sub_rate       bare SUB receive rate of the same frames with CURVE vs plain TCP (no journal): the
                         cost of encryption on this machine
    twin_source_rate     bare CURVE SUB from the twin (no journal): the ceiling the twin's stream sets

Goal (issue 3): capture >= 1,000,000 events/s sustained with durability and within 3x the baseline.
Sizes: BENCH_CAPTURE_EVENTS (default 4,000,000), BENCH_CAPTURE_BATCH (default 1000 records per frame).
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

import zmq

from bench.common import Figure, bench_main, emit
from core_bridge.auth import (
    KeyRegistry,
    ServerAuth,
    client_keypair,
    configure_client,
    configure_server,
    generate_keyset,
    server_keypair,
    server_public,
)
from core_bridge.journal.segment import read_durable
from core_bridge.journal.writer import Journal
from core_bridge.protocol import DROPCOPY_TOPIC, decode_batch, encode_batch
from hw.twin.launch import TwinHandle, start_twin
from hw.twin.stream import SyntheticStream

EVENTS = int(os.environ.get("BENCH_CAPTURE_EVENTS", "4000000"))
BATCH = int(os.environ.get("BENCH_CAPTURE_BATCH", "1000"))
GOAL_RATE = 1_000_000


def _frames(n: int, batch: int) -> list[tuple[bytes, bytes]]:
    gen = SyntheticStream(1)
    now = time.time_ns()
    return [encode_batch(gen.batch(first, min(batch, n - first + 1), now)) for first in range(1, n + 1, batch)]


def baseline_rate(work: Path, frames: list[tuple[bytes, bytes]], n: int) -> float:
    """Decode wire frames and append to a CRC'd, group-committed journal: everything but the network."""
    jdir = work / "baseline-journal"
    with Journal.open(jdir, background_io=True) as j:
        t0 = time.perf_counter()
        for hdr, payload in frames:
            _, recs = decode_batch(hdr, payload)
            j.append(recs)
            j.maybe_commit()
        j.commit()
        dt = time.perf_counter() - t0
    shutil.rmtree(jdir)
    return n / dt


def sub_rate(keys: Path, frames: list[tuple[bytes, bytes]], n: int, *, curve: bool) -> float:
    """One PUB thread -> one SUB, the same frames, with or without CURVE; no journal."""
    ctx = zmq.Context()
    auth = ServerAuth(ctx, KeyRegistry.load(keys)) if curve else None
    pub = ctx.socket(zmq.XPUB)
    pub.sndhwm = 0
    sub = ctx.socket(zmq.SUB)
    sub.rcvhwm = 0
    if curve:
        configure_server(pub, server_keypair(keys))
        configure_client(sub, client_keypair(keys, "capture"), server_public(keys))
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub.setsockopt(zmq.SUBSCRIBE, DROPCOPY_TOPIC)
    sub.connect(f"tcp://127.0.0.1:{port}")
    pub.recv()  # the subscription arrived: nothing sent from here on is lost to a slow join

    def publish() -> None:
        for hdr, payload in frames:
            pub.send_multipart([DROPCOPY_TOPIC, hdr, payload], copy=False)

    t0 = time.perf_counter()
    th = threading.Thread(target=publish)
    th.start()
    got = 0
    while got < n:
        got += len(sub.recv_multipart(copy=False)[2].buffer) // 128
    dt = time.perf_counter() - t0
    th.join()
    pub.close(0)
    sub.close(0)
    if auth is not None:
        auth.stop()
    ctx.term()
    return n / dt


def twin_source_rate(twin: TwinHandle, n: int) -> float:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.rcvhwm = 0
    configure_client(sub, client_keypair(twin.keys_dir, "monitor"), server_public(twin.keys_dir))
    sub.setsockopt(zmq.SUBSCRIBE, DROPCOPY_TOPIC)
    sub.connect(twin.endpoints["dropcopy"])
    time.sleep(0.3)  # subscription propagation (measured from the first record received below)
    twin.call("sim", {"action": "stream", "count": n, "batch": BATCH})
    got = 0
    t0 = 0.0
    while got < n and sub.poll(3000):
        got += len(sub.recv_multipart(copy=False)[2].buffer) // 128
        if not t0:
            t0 = time.perf_counter()
    dt = time.perf_counter() - t0
    sub.close(0)
    ctx.term()
    return got / dt if dt > 0 else 0.0


def capture_rate(twin: TwinHandle, work: Path, n: int) -> tuple[float, dict[str, object]]:
    jdir = work / "capture-journal"
    log = work / "capture.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core_bridge.dropcopy", "--home", str(work / "capture-home"),
             "--keys", str(twin.keys_dir), "--dropcopy", twin.endpoints["dropcopy"],
             "--rewind", twin.endpoints["rewind"], "--control", twin.endpoints["control"], "--journal", str(jdir)],
            stdout=fh, stderr=fh)
    try:
        # Warm up: the capture is subscribed and has caught up with everything the twin sequenced so far.
        last = int(twin.call("sim", {"action": "stream", "count": 10_000, "batch": BATCH}).result["first_seq"]) + 9_999
        _wait_durable(jdir, last, 60)
        time.sleep(0.2)
        t0 = time.perf_counter()
        rep = twin.call("sim", {"action": "stream", "count": n, "batch": BATCH})
        last = int(rep.result["first_seq"]) + n - 1
        _wait_durable(jdir, last, 120)
        dt = time.perf_counter() - t0
        status_path = work / "capture-home" / "run" / "capture.json"
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        import json

        stats = json.loads(status_path.read_text())["stats"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return n / dt, stats


def _wait_durable(jdir: Path, seq: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (read_durable(jdir) or {}).get("seq", 0) < seq:
        if time.monotonic() > deadline:
            raise TimeoutError(f"capture did not make seq {seq} durable within {timeout_s} s")
        time.sleep(0.001)


@bench_main("capture")
def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    try:
        keys = work / "keys"
        generate_keyset(keys)
        frames = _frames(EVENTS, BATCH)
        base = baseline_rate(work, frames, EVENTS)
        n_sub = min(EVENTS, 2_000_000)
        plain = sub_rate(keys, frames[: n_sub // BATCH], n_sub // BATCH * BATCH, curve=False)
        curve = sub_rate(keys, frames[: n_sub // BATCH], n_sub // BATCH * BATCH, curve=True)
        del frames
        twin = start_twin(work / "twin-home", "primary")
        try:
            rate, stats = capture_rate(twin, work, EVENTS)
            source = twin_source_rate(twin, n_sub)
        finally:
            twin.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit("capture", [
        Figure("capture_rate", rate, "events/s", base, "in-process decode + CRC'd journal",
               goal=f">= {GOAL_RATE:,} events/s and >= baseline/3",
               met=rate >= GOAL_RATE and rate * 3 >= base),
        Figure("curve_sub_rate", curve, "events/s", plain, "plain TCP PUB/SUB"),
        Figure("twin_source_rate", source, "events/s"),
        Figure("capture_rewound_events", float(stats.get("rewound_events", 0)), "events"),  # type: ignore[arg-type]
    ])
    print(f"capture: {EVENTS:,} events in batches of {BATCH}; gaps {stats.get('gaps')}, "
          f"rewinds {stats.get('rewinds')}, live {stats.get('live_events')}, duplicates {stats.get('duplicates')}",
          flush=True)


if __name__ == "__main__":
    main()
