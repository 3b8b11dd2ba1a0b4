"""Control-plane latency: kill round trip through CoreClient vs raw CURVE DEALER/ROUTER, and a cold
`corectl kill` process vs a bare `python -c "import zmq; one request/reply"` process. One run, same machine,
baselines measured alongside.

Goals (issue 2): client kill p99 <= 2x the raw round trip p99 and < 1 ms on loopback; cold corectl kill
<= 3x the bare-zmq process. `BENCH_CONTROL_N` sets the kill iterations (default 3000). The raw echo, status,
kill and unaudited-kill series are taken in interleaved turns of 100, so a noisy moment on this shared
machine lands on all of them rather than on whichever series happened to be running.

A durable kill makes flushes on its path that the raw echo does not: the core's state-log record (written in
place over a preallocated file, fdatasync'd before the ack) and the client's write-ahead audit line (its
`sent` line, appended and fdatasync'd while the core works on the command; the outcome line is flushed
lazily, see core_bridge/audit.py). On one VM disk the two flushes queue behind each other. So the run also
measures a bare 100-byte append + fdatasync and a bare in-place write + fdatasync on the same filesystem
(the twin's data home): the floor no durable design here can go under.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from bench.common import Figure, emit, percentile

N_KILLS = int(os.environ.get("BENCH_CONTROL_N", "3000"))
N_COLD = int(os.environ.get("BENCH_CONTROL_COLD", "12"))
WARMUP = 200

# A raw CURVE ROUTER that echoes every request, in its own process like the core.
_ECHO = r"""
import sys, zmq
ctx = zmq.Context()
r = ctx.socket(zmq.ROUTER)
r.curve_server = True
r.curve_publickey = sys.argv[1].encode(); r.curve_secretkey = sys.argv[2].encode()
port = r.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
while True:
    f = r.recv_multipart()
    if f[-1] == b"quit":
        break
    r.send_multipart(f)
"""

# The cold floor: interpreter + zmq + one CURVE request/reply to the twin's control socket (keys on argv,
# so nothing but zmq is imported). "kill" sends the same kill corectl sends, so the core does the same work
# (the like-for-like baseline); "status" is the issue's ~42 ms floor (no core-side write).
_BARE = r"""
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER); s.linger = 0
s.curve_publickey = sys.argv[2].encode(); s.curve_secretkey = sys.argv[3].encode()
s.curve_serverkey = sys.argv[4].encode()
s.connect(sys.argv[1])
if sys.argv[6] == "kill":
    s.send(b'{"v":1,"cmd":"set_kill","id":"bare-' + sys.argv[5].encode() + b'","operator":"bench","reason":"b",'
           b'"expires_ns":9000000000000000000,"args":{"scope":"firm","key":null,"level":"HALTED"}}')
else:
    s.send(b'{"v":1,"cmd":"status","id":"bare-' + sys.argv[5].encode() + b'","operator":"bench","reason":"",'
           b'"expires_ns":9000000000000000000,"args":{}}')
assert s.poll(5000), "no reply"
s.recv()
"""


BLOCK = 100  # samples per turn when the series are interleaved, so machine noise hits all of them alike

# A request of the same size as a kill command, so the raw baseline carries the same bytes.
_RAW_FRAME = (b'{"v":1,"cmd":"set_kill","id":"operator:0123456789abcdef0123456789abcdef","operator":"bench",'
              b'"reason":"bench","expires_ns":1763800000000000000,"args":{"scope":"firm","key":null,'
              b'"level":"HALTED"}}')


class _RawEcho:
    """The raw CURVE DEALER/ROUTER echo, in its own process like the core."""

    def __init__(self, keys_dir: Path) -> None:
        from core_bridge.client.keyfile import read_curve_key

        srv_pub, srv_sec = read_curve_key(keys_dir / "core.key_secret")
        cli_pub, cli_sec = read_curve_key(keys_dir / "clients" / "operator.key_secret")
        self.proc = subprocess.Popen([sys.executable, "-c", _ECHO, srv_pub.decode(), (srv_sec or b"").decode()],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.curve_publickey, self.sock.curve_secretkey = cli_pub, cli_sec or b""
        self.sock.curve_serverkey = srv_pub
        self.sock.connect(f"tcp://127.0.0.1:{port}")

    def round_trip(self, _i: int) -> None:
        self.sock.send(_RAW_FRAME)
        if not self.sock.poll(5000):
            raise RuntimeError("raw echo did not answer")
        self.sock.recv()

    def close(self) -> None:
        self.sock.send(b"quit")
        self.sock.close()
        self.ctx.term()
        self.proc.wait(timeout=5)


def _interleaved(series: dict[str, Callable[[int], object]], n: int) -> dict[str, list[float]]:
    """`n` timed calls of each series (after WARMUP untimed ones), taken in turns of BLOCK calls."""
    for fn in series.values():
        for i in range(WARMUP):
            fn(i)
    samples: dict[str, list[float]] = {name: [] for name in series}
    done = 0
    while done < n:
        k = min(BLOCK, n - done)
        for name, fn in series.items():
            out = samples[name]
            for i in range(done, done + k):
                t0 = time.perf_counter()
                fn(i)
                out.append((time.perf_counter() - t0) * 1e6)
        done += k
    return samples


def _round_trips(control: str, keys_dir: Path, n: int) -> dict[str, list[float]]:
    from core_bridge.client.commands import CoreClient

    levels = ("HALTED", "CANCEL_ONLY")
    raw = _RawEcho(keys_dir)
    opts: dict[str, Any] = {"identity": "operator", "operator": "bench", "timeout_ms": 5000}
    try:
        with CoreClient(control, keys_dir, **opts) as audited, \
                CoreClient(control, keys_dir, audit=False, **opts) as bare, \
                CoreClient(control, keys_dir, **opts) as reader:
            return _interleaved({
                "raw": raw.round_trip,
                "status": lambda i: reader.status(),
                # fresh id each time, so every kill is applied and persisted by the core
                "kill": lambda i: audited.set_kill("firm", None, levels[i % 2], "bench kill round trip"),
                "kill_unaudited": lambda i: bare.set_kill("firm", None, levels[i % 2], "bench kill round trip"),
            }, n)
    finally:
        raw.close()


def _audit_appends(home: Path, n: int) -> list[float]:
    from core_bridge.audit import AuditLog, AuditRecord

    log = AuditLog(home / "audit-bench.jsonl")
    samples: list[float] = []
    for i in range(n):
        rec = AuditRecord("bench", "operator", "operator", "set_kill", "firm", None, "bench", {"scope": "firm"},
                          "ok", "OK", i, f"bench:{i}", "tcp://127.0.0.1:1")
        t0 = time.perf_counter()
        log.append(rec)
        samples.append((time.perf_counter() - t0) * 1e6)
    log.close()
    return samples


def _bare_fdatasync(home: Path, n: int, *, in_place: bool = False) -> list[float]:
    """One 100-byte write + fdatasync per sample, on the filesystem the twin and the audit use: appended
    (the file grows, as the audit log does) or written in place over a zero-filled file (as the twin's
    state log is)."""
    path = home / "fdatasync-bench.bin"
    line = b"x" * 99 + b"\n"
    if in_place:
        path.write_bytes(bytes(len(line) * n))
        fd = os.open(path, os.O_WRONLY)
        os.fsync(fd)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o600)
    samples: list[float] = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            if in_place:
                os.pwrite(fd, line, i * len(line))
            else:
                os.write(fd, line)
            os.fdatasync(fd)
            samples.append((time.perf_counter() - t0) * 1e6)
    finally:
        os.close(fd)
        path.unlink()
    return samples


def _cold(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def _cold_processes(control: str, keys_dir: Path, env: dict[str, str],
                    n: int) -> tuple[list[float], list[float], list[float]]:
    from core_bridge.client.keyfile import read_curve_key

    srv_pub, _ = read_curve_key(keys_dir / "core.key")
    cli_pub, cli_sec = read_curve_key(keys_dir / "clients" / "operator.key_secret")
    corectl = str(Path(sys.executable).with_name("corectl"))
    kill_argv = [corectl, "--endpoint", control, "--keys-dir", str(keys_dir), "--operator", "bench", "kill",
                 "--firm", "--level", "HALTED", "--reason", "bench cold kill"]
    bare, bare_status, cold = [], [], []
    keys = [cli_pub.decode(), (cli_sec or b"").decode(), srv_pub.decode()]
    for i in range(n + 2):  # interleaved so machine noise hits all alike; the first two warm the page cache
        b = _cold([sys.executable, "-c", _BARE, control, *keys, str(i), "kill"], env)
        bs = _cold([sys.executable, "-c", _BARE, control, *keys, f"s{i}", "status"], env)
        c = _cold(kill_argv, env)
        if i >= 2:
            bare.append(b)
            bare_status.append(bs)
            cold.append(c)
    return bare, bare_status, cold


def main() -> None:
    from hw.twin.launch import start_twin

    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        home = Path(tmp)
        env = dict(os.environ, COLO_OPS_HOME=str(home))
        twin = start_twin(home)
        try:
            keys_dir = Path(twin.keys_dir)
            control = twin.endpoints["control"]
            trips = _round_trips(control, keys_dir, N_KILLS)
            raw, status, kills, kills_unaudited = (trips[k] for k in ("raw", "status", "kill", "kill_unaudited"))
            audit = _audit_appends(home, 1000)
            sync = _bare_fdatasync(home, 1000)
            sync_in_place = _bare_fdatasync(home, 1000, in_place=True)
            bare, bare_status, cold = _cold_processes(control, keys_dir, env, N_COLD)
        finally:
            twin.stop()
    raw_p50, raw_p99 = percentile(raw, 50), percentile(raw, 99)
    k_p50, k_p99 = percentile(kills, 50), percentile(kills, 99)
    s_p50, s_p99 = percentile(status, 50), percentile(status, 99)
    bare_med, cold_med = statistics.median(bare), statistics.median(cold)
    raw_name = "raw CURVE DEALER/ROUTER echo"
    sync_p50, sync_p99 = percentile(sync, 50), percentile(sync, 99)
    place_p50 = percentile(sync_in_place, 50)
    print("note: a kill is applied by the core before it acks; the twin makes it durable with one state-log "
          "record written in place + fdatasync per applied command, and the client flushes its write-ahead audit "
          "line (append + fdatasync) while the core works (same disk: the flushes queue); the raw echo does "
          "neither. The status round trip is the same client path (deadline, monitor, decode) with no write on "
          "either side. Floor for a durable kill here ~ raw + one in-place flush: p50 "
          f"{raw_p50 + place_p50:,.0f} us, p99 ~ {raw_p99 + percentile(sync_in_place, 99):,.0f} us.", flush=True)
    emit("control", [
        Figure("kill round trip p50 (CoreClient, audited)", k_p50, "us", raw_p50, f"{raw_name} p50"),
        Figure("kill round trip p99 (CoreClient, audited)", k_p99, "us", raw_p99, f"{raw_name} p99",
               goal="<= 2x raw p99 and < 1000 us", met=k_p99 <= 2 * raw_p99 and k_p99 < 1000),
        Figure("kill round trip p50 (CoreClient, audit off: core-side work only)", percentile(kills_unaudited, 50),
               "us", raw_p50, f"{raw_name} p50"),
        Figure("kill round trip p99 (CoreClient, audit off: core-side work only)", percentile(kills_unaudited, 99),
               "us", raw_p99, f"{raw_name} p99"),
        Figure("status round trip p50 (CoreClient)", s_p50, "us", raw_p50, f"{raw_name} p50"),
        Figure("status round trip p99 (CoreClient)", s_p99, "us", raw_p99, f"{raw_name} p99",
               goal="<= 2x raw p99 and < 1000 us", met=s_p99 <= 2 * raw_p99 and s_p99 < 1000),
        Figure("audit append p50 (write + fdatasync)", percentile(audit, 50), "us", sync_p50,
               "bare 100-byte append + fdatasync p50"),
        Figure("audit append p99 (write + fdatasync)", percentile(audit, 99), "us", sync_p99,
               "bare 100-byte append + fdatasync p99"),
        Figure("bare 100-byte append + fdatasync p50 (same filesystem: the durability floor)", sync_p50, "us"),
        Figure("bare 100-byte append + fdatasync p99 (same filesystem: the durability floor)", sync_p99, "us"),
        Figure("bare 100-byte in-place write + fdatasync p50 (preallocated file, as the twin's state log)",
               place_p50, "us"),
        Figure("bare 100-byte in-place write + fdatasync p99 (preallocated file, as the twin's state log)",
               percentile(sync_in_place, 99), "us"),
        Figure("cold corectl kill wall time (median)", cold_med, "ms", bare_med,
               "bare python+zmq one kill request/reply", goal="<= 3x bare", met=cold_med <= 3 * bare_med),
        Figure("cold corectl kill vs bare status process (median)", cold_med, "ms", statistics.median(bare_status),
               "bare python+zmq one status request/reply"),
    ])


if __name__ == "__main__":
    main()
