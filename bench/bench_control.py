"""Control-plane latency under protocol v2's ack contract (docs/protocol.md §3.8). One run, same machine,
baselines measured alongside, in a temporary COLO_OPS_HOME (twin state, audit log, keys: nothing in ./var
but the report).

Against the twin: the kill round trip through CoreClient (audited, and audit off) vs the raw CURVE
DEALER/ROUTER echo; a kill is a tightening control, acked as soon as it is applied (the twin's group commit
makes it durable right after, off the control path). Also the apply-to-durable lag (a `--wait-durable` kill:
ack -> the core's durable follow-up, on the client's clock), the loosening round trip (a resume, acked only
once durable) beside the flush floor, and status.

Against the reference C core (`make refcore`, -O2): CoreClient's kill round trip vs a raw pyzmq round trip
sending the same kind of frame to the same core (the bridge's own overhead).

Cold: a `corectl kill` process vs a bare `python -c "import zmq; one request/reply"` process.

Goals (issue 13 §5): twin kill p99 <= 2x raw echo p99 and < 1 ms over >= 20,000 kills; C core: client kill
p99 <= 1.5x raw pyzmq p99; cold corectl kill <= 3x the bare process. `BENCH_CONTROL_N` sets the kills per
series (default 20,000), `BENCH_CONTROL_PAIRS` the kill+resume pairs (default 5,000). The series are taken
in interleaved turns of BLOCK calls, so a noisy moment on this machine lands on all of them.

What is on each path: the audited series carries the client's audit of every kill (its `sent` line encoded
while the core works, its outcome line encoded in the next call's wait, both written and fdatasync'd by the
audit's group commit once per FLUSH_WINDOW_S, core_bridge/audit.py); the twin
flushes its state log on its group-commit thread, so a kill's ack waits for no disk, a resume's waits for
one flush (the floor: a bare in-place write + fdatasync, measured on the same filesystem).
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import zmq

from bench.common import Figure, bench_main, emit, percentile

N_KILLS = int(os.environ.get("BENCH_CONTROL_N", "20000"))
N_PAIRS = int(os.environ.get("BENCH_CONTROL_PAIRS", "5000"))
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
    s.send(b'{"v":2,"cmd":"set_kill","id":"bare-' + sys.argv[5].encode() + b'","operator":"bench","reason":"b",'
           b'"expires_ns":9000000000000000000,"args":{"scope":"firm","key":null,"level":"HALTED"}}')
else:
    s.send(b'{"v":2,"cmd":"status","id":"bare-' + sys.argv[5].encode() + b'","operator":"bench","reason":"",'
           b'"expires_ns":9000000000000000000,"args":{}}')
assert s.poll(5000), "no reply"
s.recv()
"""


# Samples per turn when the series are interleaved, so machine noise hits all of them alike. After a turn of
# kills the core's last group commit is waited for, untimed (`settle`), so it never lands on the next series
# (it used to inflate the raw echo's first calls); the audited client's own group commits (by size,
# core_bridge.audit.FLUSH_AFTER_BYTES, within its turns) are not waited for: they stay on the audited figure.
BLOCK = 100

# A request of the same size as a kill command, so the raw baseline carries the same bytes.
_RAW_FRAME = (b'{"v":2,"cmd":"set_kill","id":"operator:0123456789abcdef0123456789abcdef","operator":"bench",'
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


def _interleaved(series: dict[str, Callable[[int], object]], n: int,
                 settle: dict[str, Callable[[], object]] | None = None) -> dict[str, list[float]]:
    """`n` timed calls of each series (after WARMUP untimed ones), taken in turns of BLOCK calls; `settle[name]`
    runs untimed after each turn of that series."""
    settle = settle or {}
    for fn in series.values():
        for i in range(WARMUP):
            fn(i)
    samples: dict[str, list[float]] = {name: [] for name in series}
    # Each turn takes the series in another order, going through every permutation: the first calls after
    # a switch pay for it (the core's caches go cold while the raw echo runs), so every series must follow
    # every other one equally often (a rotation would still put the same series after the raw echo).
    orders = list(itertools.permutations(series))
    done = turn = 0
    while done < n:
        k = min(BLOCK, n - done)
        for name in orders[turn % len(orders)]:
            fn, out = series[name], samples[name]
            for i in range(done, done + k):
                t0 = time.perf_counter()
                fn(i)
                out.append((time.perf_counter() - t0) * 1e6)
            if name in settle:
                settle[name]()
        done += k
        turn += 1
    return samples


def _settle(client: Any, timeout_s: float = 5.0) -> None:
    """Wait until the core says every applied change is durable (its group commit has caught up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = client.status()
        if st.durable_version is None or st.durable_version >= st.state_version:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the core's durable version {st.durable_version} stays behind {st.state_version}")


def _round_trips(control: str, keys_dir: Path, home: Path, n: int) -> dict[str, list[float]]:
    """Twin series: raw echo, status, kill (audited / audit off; back-to-back tightening kills, each applied,
    versioned and made durable by the group commit) in interleaved turns."""
    from core_bridge.audit import AuditLog
    from core_bridge.client.commands import CoreClient

    raw = _RawEcho(keys_dir)
    opts: dict[str, Any] = {"identity": "operator", "operator": "bench", "timeout_ms": 5000}
    try:
        with CoreClient(control, keys_dir, audit=AuditLog(home / "audit" / "control.jsonl"), **opts) as audited, \
                CoreClient(control, keys_dir, audit=False, **opts) as bare, \
                CoreClient(control, keys_dir, audit=False, **opts) as reader:
            return _interleaved({
                "raw": raw.round_trip,
                "status": lambda i: reader.status(),
                # fresh id each time, so every kill is applied (levels are set: HALTED again is applied too)
                "kill": lambda i: audited.set_kill("firm", None, "HALTED", "bench kill round trip"),
                "kill_unaudited": lambda i: bare.set_kill("firm", None, "HALTED", "bench kill round trip"),
            }, n, settle={"kill": partial(_settle, reader), "kill_unaudited": partial(_settle, reader)})
    finally:
        raw.close()


def _kill_resume_pairs(control: str, keys_dir: Path, home: Path, n: int) -> dict[str, list[float]]:
    """A symbol kill with --wait-durable (its ack round trip, and ack -> durable follow-up on the client's
    clock: the apply-to-durable lag) then its resume (a loosening: acked only once durable), audited."""
    from core_bridge.audit import AuditLog
    from core_bridge.client.commands import CoreClient

    out: dict[str, list[float]] = {"kill_ack": [], "lag": [], "resume": []}
    with CoreClient(control, keys_dir, audit=AuditLog(home / "audit" / "control.jsonl"), identity="operator",
                    operator="bench", timeout_ms=5000) as c:
        for i in range(WARMUP + n):
            t0 = time.time_ns()
            k = c.set_kill("symbol", "BENCH", "HALTED", "bench pair", wait_durable=True)
            ko = c.last_outcome
            t1 = time.perf_counter()
            r = c.set_kill("symbol", "BENCH", "ACTIVE", "bench pair")
            t2 = time.perf_counter()
            if i < WARMUP:
                continue
            assert k.durable and r.durable and ko is not None and ko.applied_ns and ko.durable_ns
            out["kill_ack"].append((ko.applied_ns - t0) / 1000)
            out["lag"].append((ko.durable_ns - ko.applied_ns) / 1000)
            out["resume"].append((t2 - t1) * 1e6)
    return out


REPO = Path(__file__).resolve().parents[1]
REFCORE = REPO / "var" / "build" / "refcore"


def _start_refcore(home: Path) -> tuple[subprocess.Popen[bytes], Path, str]:
    """The -O2 reference C core on free ports, ACTIVE, no synthetic flow: (process, keys dir, control)."""
    import orjson

    from core_bridge.auth import generate_keyset

    built = subprocess.run(["make", "-s", "refcore"], cwd=REPO, capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"make refcore failed: {built.stderr.strip()}")
    keys = home / "refcore-keys"
    generate_keyset(keys)
    any_port = "tcp://127.0.0.1:*"
    proc = subprocess.Popen([str(REFCORE), "--keys", str(keys), "--control", any_port, "--telemetry", any_port,
                             "--dropcopy", any_port, "--rewind", any_port, "--flow-interval-ms", "0",
                             "--assume-active"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    ready = orjson.loads(proc.stdout.readline())
    return proc, keys, str(ready["endpoints"]["control"])


def _refcore_round_trips(home: Path, n: int) -> dict[str, list[float]]:
    """Kill round trips to the C core: raw pyzmq (a prebuilt v2 set_kill frame with a fresh id per call, so
    the core applies each) vs CoreClient audited and with the audit off."""
    import orjson

    from core_bridge.audit import AuditLog
    from core_bridge.auth import client_keypair, configure_client, server_public
    from core_bridge.client.commands import CoreClient

    proc, keys, control = _start_refcore(home)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    configure_client(sock, client_keypair(keys, "operator"), server_public(keys))
    sock.connect(control)
    frames = [orjson.dumps({"v": 2, "cmd": "set_kill", "id": f"operator:raw{i:026x}", "operator": "bench",
                            "reason": "bench kill round trip", "expires_ns": 9_000_000_000_000_000_000,
                            "args": {"scope": "firm", "key": None, "level": "HALTED"}})
              for i in range(WARMUP + n)]

    def raw(i: int) -> None:
        sock.send(frames[i])
        if not sock.poll(5000):
            raise RuntimeError("the reference core did not answer")
        sock.recv()

    opts: dict[str, Any] = {"identity": "operator", "operator": "bench", "timeout_ms": 5000}
    try:
        with CoreClient(control, keys, audit=AuditLog(home / "audit" / "refcore.jsonl"), **opts) as audited, \
                CoreClient(control, keys, audit=False, **opts) as bare:
            return _interleaved({
                "raw": raw,
                "kill": lambda i: audited.set_kill("firm", None, "HALTED", "bench kill round trip"),
                "kill_unaudited": lambda i: bare.set_kill("firm", None, "HALTED", "bench kill round trip"),
            }, n, settle={"kill": partial(_settle, bare), "kill_unaudited": partial(_settle, bare)})
    finally:
        sock.close(0)
        ctx.term()
        proc.terminate()
        proc.wait(timeout=10)


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


@bench_main("control")
def main() -> None:
    from hw.twin.launch import start_twin

    saved_home = os.environ.get("COLO_OPS_HOME")
    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        home = Path(tmp)
        os.environ["COLO_OPS_HOME"] = str(home)  # every default path (audit, settings) lands in the temp home
        env = dict(os.environ)
        try:
            twin = start_twin(home)
            try:
                keys_dir = Path(twin.keys_dir)
                control = twin.endpoints["control"]
                trips = _round_trips(control, keys_dir, home, N_KILLS)
                pairs = _kill_resume_pairs(control, keys_dir, home, N_PAIRS)
                sync = _bare_fdatasync(home, 1000)
                sync_in_place = _bare_fdatasync(home, 1000, in_place=True)
                bare, bare_status, cold = _cold_processes(control, keys_dir, env, N_COLD)
            finally:
                twin.stop()
            ref = _refcore_round_trips(home, N_KILLS)
        finally:
            if saved_home is None:
                os.environ.pop("COLO_OPS_HOME", None)
            else:
                os.environ["COLO_OPS_HOME"] = saved_home
    p50, p99 = (lambda xs: percentile(xs, 50)), (lambda xs: percentile(xs, 99))
    raw, status, kills, kills_un = (trips[k] for k in ("raw", "status", "kill", "kill_unaudited"))
    raw_name = "raw CURVE DEALER/ROUTER echo"
    c_raw_name = "raw pyzmq kill round trip to the same C core"
    bare_med, cold_med = statistics.median(bare), statistics.median(cold)
    print(f"note: {len(kills):,} kills per twin series, {len(pairs['resume']):,} kill+resume pairs, "
          f"{len(ref['kill']):,} kills per C-core series. A kill is tightening: the core acks it once applied and "
          "makes it durable by its group commit after (the twin gathers up to 1 ms of changes per flush); the "
          "audited client encodes its lines while the core works and writes + fdatasyncs them by its own group "
          "commit (every 100 ms or 256 KiB, same disk). A resume is a loosening: acked after one state-log flush.",
          flush=True)
    emit("control", [
        Figure("twin: kill round trip p50 (CoreClient, audited)", p50(kills), "us", p50(raw), f"{raw_name} p50"),
        Figure("twin: kill round trip p99 (CoreClient, audited)", p99(kills), "us", p99(raw), f"{raw_name} p99",
               goal="<= 2x raw p99 and < 1000 us", met=p99(kills) <= 2 * p99(raw) and p99(kills) < 1000),
        Figure("twin: kill round trip p50 (CoreClient, audit off)", p50(kills_un), "us", p50(raw), f"{raw_name} p50"),
        Figure("twin: kill round trip p99 (CoreClient, audit off)", p99(kills_un), "us", p99(raw), f"{raw_name} p99",
               goal="<= 2x raw p99 and < 1000 us", met=p99(kills_un) <= 2 * p99(raw) and p99(kills_un) < 1000),
        Figure("twin: status round trip p99 (CoreClient)", p99(status), "us", p99(raw), f"{raw_name} p99"),
        Figure("twin: apply-to-durable lag p50 (kill ack -> durable follow-up, client clock)", p50(pairs["lag"]),
               "us", p50(sync_in_place), "bare in-place write + fdatasync p50"),
        Figure("twin: apply-to-durable lag p99 (kill ack -> durable follow-up, client clock)", p99(pairs["lag"]),
               "us", p99(sync_in_place), "bare in-place write + fdatasync p99"),
        Figure("twin: symbol kill ack round trip p99 (--wait-durable kills, ack only)", p99(pairs["kill_ack"]), "us",
               p99(raw), f"{raw_name} p99"),
        Figure("twin: loosening (resume) round trip p50 (acked once durable, audited)", p50(pairs["resume"]), "us",
               p50(raw) + p50(sync_in_place), "raw echo p50 + in-place flush p50 (the floor)"),
        Figure("twin: loosening (resume) round trip p99 (acked once durable, audited)", p99(pairs["resume"]), "us",
               p99(raw) + p99(sync_in_place), "raw echo p99 + in-place flush p99 (the floor)"),
        Figure("C core: kill round trip p50 (CoreClient, audited)", p50(ref["kill"]), "us", p50(ref["raw"]),
               f"{c_raw_name} p50"),
        Figure("C core: kill round trip p99 (CoreClient, audited)", p99(ref["kill"]), "us", p99(ref["raw"]),
               f"{c_raw_name} p99", goal="<= 1.5x raw p99", met=p99(ref["kill"]) <= 1.5 * p99(ref["raw"])),
        Figure("C core: kill round trip p50 (CoreClient, audit off)", p50(ref["kill_unaudited"]), "us",
               p50(ref["raw"]), f"{c_raw_name} p50"),
        Figure("C core: kill round trip p99 (CoreClient, audit off)", p99(ref["kill_unaudited"]), "us",
               p99(ref["raw"]), f"{c_raw_name} p99", goal="<= 1.5x raw p99",
               met=p99(ref["kill_unaudited"]) <= 1.5 * p99(ref["raw"])),
        Figure("bare 100-byte append + fdatasync p50 (same filesystem: the audit line's flush)", p50(sync), "us"),
        Figure("bare 100-byte append + fdatasync p99 (same filesystem: the audit line's flush)", p99(sync), "us"),
        Figure("bare 100-byte in-place write + fdatasync p50 (preallocated, as the twin's state log)",
               p50(sync_in_place), "us"),
        Figure("bare 100-byte in-place write + fdatasync p99 (preallocated, as the twin's state log)",
               p99(sync_in_place), "us"),
        Figure("cold corectl kill wall time (median)", cold_med, "ms", bare_med,
               "bare python+zmq one kill request/reply", goal="<= 3x bare", met=cold_med <= 3 * bare_med),
        Figure("cold corectl kill vs bare status process (median)", cold_med, "ms", statistics.median(bare_status),
               "bare python+zmq one status request/reply"),
    ])


if __name__ == "__main__":
    main()
