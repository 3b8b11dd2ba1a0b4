"""The reference C core (hw/core_sdk/refcore.c) driven by the project's own Python side.

The core is the ASan + UBSan build (`make refcore-asan`), started on free loopback ports with a keyset made
by `core_bridge.auth.generate_keyset`; the peers are `core_bridge.client.CoreClient`, the
`TelemetrySubscriber`, the `CaptureService` and raw CURVE sockets configured by `core_bridge.auth`. Every
wait has a deadline. Each core is stopped by SIGTERM at the end, and must exit 0 with no sanitizer report.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import zmq
import zmq.auth

from core_bridge.auth import client_keypair, configure_client, generate_keyset, server_public
from core_bridge.client import CoreClient
from core_bridge.dropcopy import CaptureConfig, CaptureService
from core_bridge.errors import NoAckError, RoleDeniedError
from core_bridge.journal import iter_records, read_durable
from core_bridge.protocol import (
    DROPCOPY_TOPIC,
    KILL_SCOPE_CODES,
    PROTOCOL_VERSION,
    REWIND_CHUNK,
    TELEMETRY_TOPIC_HEALTH,
    Command,
    EventFlag,
    EventType,
    KillLevel,
    KillScope,
    Reply,
    Request,
    Venue,
    decode_batch,
    new_events,
)
from core_bridge.reasons import ReasonCode
from core_bridge.telemetry import TelemetrySubscriber
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / "var" / "build" / "refcore-asan"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
                     "SUMMARY:")
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:exitcode=86:strict_string_checks=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
HB_FIELDS = {"node", "epoch", "last_seq", "state_version", "durable_version", "core_time_ns", "trading_state",
             "ha_role", "stream_remaining"}
HEALTH_FIELDS = {"node", "epoch", "core_time_ns", "orders_per_s", "rejects", "exposure", "gate_latency_ns",
                 "auth_failures", "trading_state", "orders_working", "flow_rate"}
STATUS_FIELDS = {"node", "ha_role", "trading_state", "kill", "last_seq", "epoch", "limits_version", "state_version",
                 "state_unknown", "orders_working", "uptime_s", "core_time_ns", "auth_failures", "durable_version",
                 "start"}


# ----------------------------------------------------------------------------------------------- harness
@pytest.fixture(scope="module")
def refcore_binary() -> Path:
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.fail("the reference core needs `cc` and `make` (Debian: apt-get install gcc make); this test "
                    "does not skip")
    built = subprocess.run(["make", "-s", "refcore-asan"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, f"make refcore-asan failed:\n{built.stdout}\n{built.stderr}"
    assert BINARY.is_file()
    return BINARY


@dataclass
class RefCore:
    proc: subprocess.Popen[bytes]
    keys_dir: Path
    stderr_path: Path
    ready: dict[str, Any]
    ctx: zmq.Context = field(default_factory=zmq.Context)
    returncode: int | None = None

    @property
    def endpoints(self) -> dict[str, str]:
        return dict(self.ready["endpoints"])

    @property
    def epoch(self) -> int:
        return int(self.ready["epoch"])

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def client(self, identity: str = "operator", **kw: Any) -> CoreClient:
        kw.setdefault("timeout_ms", 3000)
        return CoreClient(self.endpoints["control"], self.keys_dir, identity=identity, operator="pytest",
                          audit=False, context=self.ctx, **kw)

    def socket(self, kind: int, endpoint: str, identity: str = "operator") -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.linger = 0
        configure_client(s, client_keypair(self.keys_dir, identity), server_public(self.keys_dir))
        if kind == zmq.SUB:
            s.setsockopt(zmq.SUBSCRIBE, DROPCOPY_TOPIC)
        s.connect(self.endpoints[endpoint])
        return s

    def stop(self, timeout_s: float = 60) -> int:
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"refcore did not stop within {timeout_s} s of SIGTERM:\n"
                                     f"{self.stderr()}") from None
            finally:
                if self.proc.stdout is not None:
                    self.proc.stdout.close()
                self.ctx.destroy(linger=0)
        return self.returncode

    def assert_clean_exit(self) -> None:
        rc = self.stop()
        err = self.stderr()
        found = [m for m in SANITIZER_MARKERS if m in err]
        assert rc == 0 and not found, f"refcore exit {rc}, sanitizer markers {found}:\n{err}"
        assert "stopping:" in err, err


def start_refcore(binary: Path, home: Path, *args: str, deadline_s: float = 30) -> RefCore:
    keys = home / "keys"
    generate_keyset(keys)  # core keypair, monitor/capture/operator/admin clients, roles.json
    stderr_path = home / "refcore.stderr"
    any_port = "tcp://127.0.0.1:*"
    argv = [str(binary), "--keys", str(keys), "--state-dir", str(home / "state"), "--control", any_port,
            "--telemetry", any_port, "--dropcopy", any_port, "--rewind", any_port, *args]
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env={**os.environ, **SANITIZER_ENV})
    assert proc.stdout is not None
    end = time.monotonic() + deadline_s
    line = b""
    while not line.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"refcore not ready within {deadline_s} s (exit {proc.returncode}):\n"
                                 f"{stderr_path.read_text(errors='replace')}")
        if select.select([proc.stdout], [], [], left)[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                continue
            line += chunk
    ready = orjson.loads(line)
    assert ready["ready"] is True and ready["pid"] == proc.pid
    return RefCore(proc, keys, stderr_path, ready)


@pytest.fixture(scope="module")
def refcore(refcore_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RefCore]:
    core = start_refcore(refcore_binary, tmp_path_factory.mktemp("refcore"), "--flow-interval-ms", "20")
    try:
        yield core
    finally:
        core.assert_clean_exit()  # also when a test in between failed: a sanitizer report is never lost


def request(cmd: Command | str, args: dict[str, Any] | None = None, *, rid: str, ttl_s: float = 5.0,
            v: int = PROTOCOL_VERSION) -> bytes:
    return Request(Command(cmd), rid, "pytest", "refcore test", time.time_ns() + int(ttl_s * 1e9), args or {},
                   v).encode()


def rpc(sock: zmq.Socket, frame: bytes, timeout_s: float = 5.0) -> bytes:
    sock.send(frame)
    assert sock.poll(int(timeout_s * 1000)), "no reply within the deadline"
    parts = sock.recv_multipart()
    assert len(parts) == 1, parts
    return parts[0]


def rewind(core: RefCore, req: dict[str, Any], timeout_s: float = 10.0) -> tuple[list[np.ndarray], dict[str, Any]]:
    """One rewind request: the decoded chunks (checked by the project's decode_batch) and the end frame."""
    sock = core.socket(zmq.DEALER, "rewind", "capture")
    try:
        sock.send(orjson.dumps(req))
        chunks: list[np.ndarray] = []
        end_at = time.monotonic() + timeout_s
        while True:
            left = end_at - time.monotonic()
            assert left > 0 and sock.poll(int(left * 1000)), f"rewind {req}: no end frame within {timeout_s} s"
            parts = sock.recv_multipart()
            if len(parts) == 1:
                return chunks, orjson.loads(parts[0])
            assert len(parts) == 2, parts
            hdr, recs = decode_batch(parts[0], parts[1])
            assert hdr.epoch == req["epoch"] and len(recs) <= REWIND_CHUNK
            chunks.append(recs.copy())
    finally:
        sock.close(0)


class LiveFeed:
    """The drop copy as a subscriber sees it: every batch decoded by the project's decode_batch."""

    def __init__(self, core: RefCore) -> None:
        self.sock = core.socket(zmq.SUB, "dropcopy", "capture")
        self.batches: list[np.ndarray] = []

    def pump(self, until: Any, timeout_s: float = 15.0, what: str = "drop copy") -> np.ndarray:
        end = time.monotonic() + timeout_s
        while not until(self.records()):
            left = end - time.monotonic()
            assert left > 0, f"timed out waiting for {what}"
            if self.sock.poll(max(1, int(min(left, 0.2) * 1000))):
                parts = self.sock.recv_multipart()
                assert len(parts) == 3 and parts[0] == DROPCOPY_TOPIC, parts[:1]
                _hdr, recs = decode_batch(parts[1], parts[2])
                self.batches.append(recs.copy())
        return self.records()

    def records(self) -> np.ndarray:
        return np.concatenate(self.batches) if self.batches else new_events(0)

    def close(self) -> None:
        self.sock.close(0)


@pytest.fixture
def feed(refcore: RefCore) -> Iterator[LiveFeed]:
    f = LiveFeed(refcore)
    yield f
    f.close()


# ----------------------------------------------------------------------------------------------- control
def test_status_comes_up_fail_closed_then_hello_negotiates_version_1(refcore: RefCore) -> None:
    with refcore.client("monitor") as mon:
        st = mon.status()
        hello = mon.hello()
    assert set(st.result) == STATUS_FIELDS
    # no persisted kill state: the protocol's rule for a core without one (§5)
    assert st.result["trading_state"] == "HALTED" and st.result["state_unknown"] is True
    assert st.result["kill"] == {"firm": "HALTED", "account": {}, "symbol": {}, "venue": {}}
    assert st.state_version == st.result["state_version"] == 0
    assert st.result["epoch"] == refcore.epoch and isinstance(st.result["core_time_ns"], int)
    assert hello.result == {"protocol": PROTOCOL_VERSION, "versions": [1, 2], "core_id": "refcore-primary",
                            "node": "primary", "epoch": refcore.epoch, "identity": "monitor", "role": "monitor"}
    with refcore.client("admin") as adm:
        assert adm.hello().result["role"] == "admin"

    raw = refcore.socket(zmq.DEALER, "control", "operator")
    try:
        other = Reply.decode(rpc(raw, request("hello", rid="hello-v3", v=3)))
        assert (other.ok, other.code, other.id) == (False, "MSG_VERSION_UNSUPPORTED", "hello-v3")
        assert other.result == {"versions": [1, 2]}  # what the core speaks: the client picks one
        old = Reply.decode(rpc(raw, request("hello", rid="hello-v1", v=1)))  # a v1 client still works
        assert old.ok and old.v == 1 and old.result["protocol"] == 1 and old.durable_version is None
        assert Reply.decode(rpc(raw, b"not json")).code == "MSG_MALFORMED"
        bogus = orjson.loads(rpc(raw, orjson.dumps({"v": 1, "cmd": "format_disk", "id": "x1", "operator": "o",
                                                    "reason": "r", "expires_ns": 1})))
        assert bogus["code"] == "MSG_UNKNOWN_COMMAND" and bogus["id"] == "x1" and bogus["ok"] is False
        raw.send_multipart([b"two", b"frames"])
        assert raw.poll(5000)
        assert Reply.decode(raw.recv()).code == "MSG_MALFORMED"
        served_elsewhere = Reply.decode(rpc(raw, request("snapshot", rid="snap-1")))
        assert served_elsewhere.code == "MSG_UNKNOWN_COMMAND"
    finally:
        raw.close(0)


FAR_FUTURE_NS = 4_000_000_000_000_000_000  # 2096: the cases are built at collection, run minutes later


def _envelope(**kw: Any) -> bytes:
    doc = {"v": 1, "cmd": "status", "id": "env-1", "operator": "pytest", "reason": "edge",
           "expires_ns": FAR_FUTURE_NS, "args": {}}
    doc.update(kw)
    return orjson.dumps({k: v for k, v in doc.items() if v is not ...})


ENVELOPE_CASES = [  # (frame, code, id in the reply): the processing order of docs/protocol.md §3
    (b"", "MSG_MALFORMED", ""),
    (b"[1]", "MSG_MALFORMED", ""),
    (b'{"id": "abc"}', "MSG_MALFORMED", "abc"),
    (b'{"v": 1, "cmd": "status"} trailing', "MSG_MALFORMED", ""),
    (b"\xff\xfe", "MSG_MALFORMED", ""),
    (_envelope(v=...), "MSG_MALFORMED", "env-1"),
    (_envelope(v=1.0), "MSG_MALFORMED", "env-1"),  # an integer field: 1.0 is not one (as orjson reads it)
    (_envelope(v=True), "MSG_MALFORMED", "env-1"),
    (_envelope(expires_ns=1.5), "MSG_MALFORMED", "env-1"),
    (_envelope(args=[]), "MSG_MALFORMED", "env-1"),
    (_envelope(operator=None), "MSG_MALFORMED", "env-1"),
    (_envelope(id=""), "MSG_MALFORMED", ""),
    (_envelope(id="x" * 129), "MSG_MALFORMED", ""),
    (_envelope(id="\u00e9" * 128), "OK", "\u00e9" * 128),  # 128 characters, 256 bytes
    (_envelope(cmd="format_disk"), "MSG_UNKNOWN_COMMAND", "env-1"),
    (_envelope(cmd="format_disk", v=3), "MSG_UNKNOWN_COMMAND", "env-1"),
    (_envelope(v=3), "MSG_VERSION_UNSUPPORTED", "env-1"),
    (_envelope(v=2), "OK", "env-1"),
    (_envelope(durable_notify="yes"), "MSG_MALFORMED", "env-1"),
    (_envelope(v=9_999_999_999_999_999_999), "MSG_VERSION_UNSUPPORTED", "env-1"),
    (_envelope(expires_ns=-(2**63)), "MSG_EXPIRED", "env-1"),
    (_envelope(cmd="sim", args={"action": "stream"}), "MSG_UNKNOWN_COMMAND", "env-1"),  # twin-only
    (b'{"v": 2, "v": 1, "cmd": "status", "id": "dup", "operator": "o", "reason": "r", '
     b'"expires_ns": 9999999999999999999}', "OK", "dup"),  # a repeated key means its last value
]


@pytest.mark.parametrize(("frame", "code", "rid"), ENVELOPE_CASES)
def test_envelope_edge_cases_get_the_protocols_codes(refcore: RefCore, frame: bytes, code: str, rid: str) -> None:
    raw = refcore.socket(zmq.DEALER, "control", "operator")
    try:
        reply = orjson.loads(rpc(raw, frame))
    finally:
        raw.close(0)
    assert (reply["code"], reply["id"], reply["ok"]) == (code, rid, code == "OK"), reply
    # a v2 reply (and one to a request whose version is not known yet) carries durable_version; a v1 one not
    v2 = {"durable_version"} if reply["v"] >= 2 else set()
    assert set(reply) == {"v", "id", "ok", "code", "state_version", "result", "message"} | v2


def test_set_kill_with_an_idempotent_retry_is_applied_once(refcore: RefCore) -> None:
    with refcore.client("operator") as op:
        first = op.set_kill("firm", None, "ACTIVE", "open for the test", idempotency_key="resume-1")
        again = op.set_kill("firm", None, "ACTIVE", "open for the test", idempotency_key="resume-1")
        assert first.ok and first.result == {"scope": "firm", "key": None, "level": "ACTIVE", "previous": "HALTED"}
        assert (again.id, again.state_version, again.result) == (first.id, first.state_version, first.result)
        st = op.status()
        assert st.state_version == first.state_version and st.result["state_unknown"] is False

        sym = op.set_kill("symbol", "AAPL", "HALTED", "news", idempotency_key="aapl-halt")
        assert sym.state_version == first.state_version + 1 and sym.result["previous"] == "ACTIVE"
        # a Lazy Pirate retry is the same frame again: the original reply comes back (v2: with the core's
        # durable_version as of the replay; a v1 reply has none, so it comes back byte for byte)
        raw = refcore.socket(zmq.DEALER, "control", "operator")
        try:
            frame = request("set_kill", {"scope": "venue", "key": "NYSE", "level": "CANCEL_ONLY"}, rid="nyse-co")
            replies = [rpc(raw, frame), rpc(raw, frame)]
            first_ack, replay = (orjson.loads(r) for r in replies)
            assert replay["durable_version"] >= first_ack["state_version"]  # committed by the time of the replay
            assert {**first_ack, "durable_version": 0} == {**replay, "durable_version": 0}
            nyse = Reply.decode(replies[0])
            assert nyse.ok and nyse.state_version == sym.state_version + 1
            other_args = Reply.decode(rpc(raw, request("set_kill", {"scope": "venue", "key": "NYSE",
                                                                    "level": "HALTED"}, rid="nyse-co")))
            other_cmd = Reply.decode(rpc(raw, request("cancel_all", {"scope": "firm", "key": None}, rid="nyse-co")))
            assert other_args.code == other_cmd.code == "MSG_ARGS_INVALID"
            expired = Reply.decode(rpc(raw, request("set_kill", {"scope": "firm", "key": None, "level": "HALTED"},
                                                    rid="too-late", ttl_s=-1)))
            bad_level = Reply.decode(rpc(raw, request("set_kill", {"scope": "firm", "level": "OFF"}, rid="bad-lvl")))
            assert expired.code == "MSG_EXPIRED" and bad_level.code == "MSG_ARGS_INVALID"
            assert "level" in bad_level.message
            # an expired retry of an applied id still gets the original reply
            assert rpc(raw, frame) == replies[1]
        finally:
            raw.close(0)
        same_level = op.set_kill("symbol", "AAPL", "HALTED", "again")  # set, not toggled: applied, no event
        assert same_level.state_version == nyse.state_version + 1 and same_level.result["previous"] == "HALTED"
        st = op.status()
    assert st.state_version == same_level.state_version
    assert st.result["kill"] == {"firm": "ACTIVE", "account": {}, "symbol": {"AAPL": "HALTED"},
                                 "venue": {"NYSE": "CANCEL_ONLY"}}
    # exactly one KILL_STATE_CHANGED per change that happened, whatever the retries
    chunks, end = rewind(refcore, {"v": 1, "epoch": refcore.epoch, "from_seq": 1,
                                   "to_seq": st.result["last_seq"]})
    assert end["code"] == "OK"
    kills = np.concatenate(chunks)
    kills = kills[kills["etype"] == EventType.KILL_STATE_CHANGED]
    got = [(int(r["qty"]), int(r["price"]), r["symbol"].decode(), int(r["venue"])) for r in kills]
    assert got == [(KILL_SCOPE_CODES[KillScope.FIRM], KillLevel.ACTIVE, "", 0),
                   (KILL_SCOPE_CODES[KillScope.SYMBOL], KillLevel.HALTED, "AAPL", 0),
                   (KILL_SCOPE_CODES[KillScope.VENUE], KillLevel.CANCEL_ONLY, "", Venue.NYSE)]


def test_monitor_key_is_refused_before_any_state_change(refcore: RefCore) -> None:
    with refcore.client("operator") as op:
        before = op.status()
    with refcore.client("monitor") as mon:
        with pytest.raises(RoleDeniedError) as denied:
            mon.set_kill("firm", None, "HALTED", "not mine to pull", idempotency_key="monitor-kill")
        assert denied.value.code == "AUTH_ROLE_DENIED"
        with pytest.raises(RoleDeniedError):
            mon.cancel_all("firm", None, "nor this")
        after = mon.status()
    assert after.state_version == before.state_version
    assert after.result["kill"] == before.result["kill"]
    # a refusal is not remembered: an operator may use the same id afterwards
    with refcore.client("operator") as op:
        applied = op.set_kill("account", "PROP02", "REDUCE_ONLY", "ok now", idempotency_key="monitor-kill")
    assert applied.ok and applied.state_version == before.state_version + 1


def test_unknown_key_gets_no_answer_within_a_deadline(refcore: RefCore, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    (stranger / "clients").mkdir(parents=True)
    zmq.auth.create_certificates(str(stranger / "clients"), "stranger")
    shutil.copy(refcore.keys_dir / "core.key", stranger / "core.key")
    with refcore.client("monitor") as mon:
        failures_before = mon.status().result["auth_failures"]
    with CoreClient(refcore.endpoints["control"], stranger, identity="stranger", timeout_ms=700, retries=1,
                    audit=False) as c, pytest.raises(NoAckError):
        c.hello()  # the client's own deadline ends the wait: the refcore never answers a stranger
    raw = refcore.ctx.socket(zmq.DEALER)
    raw.linger = 0
    public, secret = zmq.curve_keypair()
    raw.curve_publickey, raw.curve_secretkey = public, secret
    raw.curve_serverkey = server_public(refcore.keys_dir)
    raw.connect(refcore.endpoints["control"])
    try:
        raw.send(request("status", rid="stranger-status"))
        assert raw.poll(1000) == 0, "a key not in roles.json got an answer"
    finally:
        raw.close(0)
    with refcore.client("monitor") as mon:
        wait_for(lambda: mon.status().result["auth_failures"] > failures_before, 10, "auth_failures to count it")


# ----------------------------------------------------------------------------------------------- drop copy
def test_dropcopy_events_arrive_in_sequence_with_cancel_all(refcore: RefCore, feed: LiveFeed) -> None:
    with refcore.client("operator") as op:
        op.set_kill("firm", None, "ACTIVE", "flow on")
        op.set_kill("account", "PROP02", "ACTIVE", "")
        wait_for(lambda: op.status().result["orders_working"] >= 3, 15, "three resting synthetic orders")
        feed.pump(lambda r: len(r) >= 40, what="40 live records")
        cancelled = op.cancel_all("firm", None, "end of test", idempotency_key="cxl-all-1")
        assert cancelled.result["cancelled"] >= 3
        n = cancelled.result["cancelled"]
        again = op.cancel_all("firm", None, "end of test", idempotency_key="cxl-all-1")
        assert again.result == cancelled.result and again.state_version == cancelled.state_version
    recs = feed.pump(lambda r: int((r["etype"] == EventType.ORDER_CANCELLED).sum()) >= n, what="the cancels")
    seqs = recs["seq"].astype(np.int64)
    assert bool(np.all(np.diff(seqs) == 1)), "live drop copy has a gap or a reorder"
    assert bool(np.all(recs["epoch"] == refcore.epoch))
    assert bool(np.all(np.diff(recs["ts_ns"]) > 0)), "timestamps must strictly increase"
    assert not bool(np.any(recs["flags"] & EventFlag.REPLAY))
    kinds = set(recs["etype"].tolist())
    assert {EventType.ORDER_NEW, EventType.ORDER_ROUTED, EventType.ORDER_ACKED, EventType.ORDER_FILLED} <= kinds
    cxl = recs[recs["etype"] == EventType.ORDER_CANCELLED]
    assert len(cxl) == n
    assert bool(np.all(cxl["reason"] == ReasonCode.CANCEL_CANCEL_ALL))
    assert bool(np.all(cxl["flags"] & EventFlag.FROM_CANCEL_ALL)) and bool(np.all(cxl["leaves_qty"] == 0))
    req = recs[recs["etype"] == EventType.ORDER_CANCEL_REQUESTED]
    assert sorted(req["order_id"].tolist()) == sorted(cxl["order_id"].tolist())
    assert bool(np.all(req["seq"] + 1 == cxl["seq"]))  # requested then cancelled, order by order


def test_rewind_serves_a_published_range_and_refuses_outside_it(refcore: RefCore, feed: LiveFeed) -> None:
    live = feed.pump(lambda r: len(r) >= 30, what="30 live records")
    lo, hi = int(live["seq"][5]), int(live["seq"][25])
    chunks, end = rewind(refcore, {"v": 1, "epoch": refcore.epoch, "from_seq": lo, "to_seq": hi})
    assert end["end"] is True and end["code"] == "OK" and end["epoch"] == refcore.epoch and end["last_seq"] >= hi
    replayed = np.concatenate(chunks)
    assert replayed["seq"].tolist() == list(range(lo, hi + 1))
    assert bool(np.all(replayed["flags"] & EventFlag.REPLAY))
    original = live[(live["seq"] >= lo) & (live["seq"] <= hi)].copy()
    replayed["flags"] &= ~np.uint8(EventFlag.REPLAY)
    assert replayed.tobytes() == original.tobytes(), "replayed records differ from the live ones"

    last = end["last_seq"]
    for req in ({"v": 1, "epoch": refcore.epoch, "from_seq": 1, "to_seq": last + 1000},
                {"v": 1, "epoch": refcore.epoch, "from_seq": 0, "to_seq": 3},
                {"v": 1, "epoch": refcore.epoch, "from_seq": 9, "to_seq": 8}):
        chunks, end = rewind(refcore, req)
        assert chunks == [] and end["code"] == "REWIND_OUT_OF_RANGE" and end["last_seq"] >= last, (req, end)
    chunks, end = rewind(refcore, {"v": 1, "epoch": refcore.epoch + 7, "from_seq": 1, "to_seq": 2})
    assert chunks == [] and (end["code"], end["last_seq"]) == ("REWIND_EPOCH_UNKNOWN", 0)
    chunks, end = rewind(refcore, {"v": 3, "epoch": refcore.epoch, "from_seq": 1, "to_seq": 2})
    assert chunks == [] and end["code"] == "MSG_VERSION_UNSUPPORTED"
    chunks, end = rewind(refcore, {"v": 1, "epoch": refcore.epoch, "from_seq": "1", "to_seq": 2})
    assert chunks == [] and end["code"] == "MSG_MALFORMED"


def test_capture_service_journals_the_stream_from_seq_1(refcore: RefCore, tmp_path: Path) -> None:
    cfg = CaptureConfig(journal_dir=tmp_path / "journal", keys_dir=refcore.keys_dir,
                        dropcopy_endpoint=refcore.endpoints["dropcopy"], rewind_endpoint=refcore.endpoints["rewind"],
                        control_endpoint=refcore.endpoints["control"], idle_probe_ms=100,
                        status_path=tmp_path / "capture.json", positions_path=tmp_path / "positions.json")
    svc = CaptureService(cfg, ctx=refcore.ctx)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            svc.run(stop)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        with refcore.client("monitor") as mon:
            target = mon.status().result["last_seq"] + 20
        wait_for(lambda: (read_durable(tmp_path / "journal") or {}).get("seq", 0) >= target, 30,
                 f"capture durable to seq {target}")
    finally:
        stop.set()
        t.join(20)
    assert not errors, errors
    seqs = np.concatenate([r["seq"] for r in iter_records(tmp_path / "journal")])
    assert seqs[0] == 1 and bool(np.all(np.diff(seqs.astype(np.int64)) == 1))
    assert svc.stats.malformed == 0 and svc.stats.rewinds >= 1


# ----------------------------------------------------------------------------------------------- telemetry
def test_telemetry_heartbeats_at_the_protocol_cadence(refcore: RefCore) -> None:
    sub = TelemetrySubscriber(refcore.endpoints["telemetry"], refcore.keys_dir, "monitor", context=refcore.ctx)
    try:
        beats: list[tuple[dict[str, Any], int]] = []
        health: dict[str, Any] | None = None
        end = time.monotonic() + 15
        while (len(beats) < 12 or health is None) and time.monotonic() < end:
            got = sub.recv(1000)
            if got is None:
                continue
            topic, doc, at = got
            if topic == TELEMETRY_TOPIC_HEALTH:
                health = doc
            elif topic == b"hb":
                beats.append((doc, at))
        assert len(beats) >= 12 and health is not None, (len(beats), health)
    finally:
        sub.close()
    for doc, _ in beats:
        assert set(doc) == HB_FIELDS and doc["epoch"] == refcore.epoch and doc["ha_role"] == "active"
    gaps_ms = np.diff([at for _, at in beats]) / 1e6
    assert 70 <= float(np.median(gaps_ms)) <= 160, gaps_ms
    core_gaps_ms = np.diff([doc["core_time_ns"] for doc, _ in beats]) / 1e6
    assert 70 <= float(np.median(core_gaps_ms)) <= 160, core_gaps_ms
    assert set(health) == HEALTH_FIELDS and isinstance(health["auth_failures"], int)
    assert set(health["gate_latency_ns"]) == {"p50", "p99", "max", "samples"}


# ----------------------------------------------------------------------------------------------- ack contract
def test_ack_contract_tightening_at_once_loosening_when_committed_v1_always_committed(
        refcore_binary: Path, tmp_path: Path) -> None:
    """Protocol v2 on the C core, with its simulated commit slowed to 300 ms so the window shows."""
    core = start_refcore(refcore_binary, tmp_path, "--assume-active", "--flow-interval-ms", "0",
                         "--commit-delay-us", "300000")
    raw = core.socket(zmq.DEALER, "control", "operator")
    try:
        kill = request("set_kill", {"scope": "symbol", "key": "AAPL", "level": "HALTED"}, rid="t-kill")
        t0 = time.monotonic()
        ack = Reply.decode(rpc(raw, kill))
        assert time.monotonic() - t0 < 0.25, "a tightening must be acked without waiting for the commit"
        assert ack.ok and not ack.durable and ack.durable_version == ack.state_version - 1
        # a retry while it is not yet committed is replayed at once too
        assert Reply.decode(rpc(raw, kill)).state_version == ack.state_version
        # a loosening (resume) is acked only once committed: its ack says durable
        t0 = time.monotonic()
        resume = Reply.decode(rpc(raw, request("set_kill", {"scope": "symbol", "key": "AAPL", "level": "ACTIVE"},
                                               rid="t-resume")))
        assert resume.ok and resume.durable and resume.durable_version >= resume.state_version
        assert time.monotonic() - t0 >= 0.2
        # v1: every ack of a change waits for the commit and carries no durable_version
        v1 = request("set_kill", {"scope": "venue", "key": "ARCA", "level": "HALTED"}, rid="t-v1", v=1)
        old = rpc(raw, v1)
        assert b"durable_version" not in old and orjson.loads(old)["v"] == 1
        assert rpc(raw, v1) == old  # a v1 replay is byte for byte
        # durable_notify: the ack now, a follow-up frame once committed
        frame = Request(Command.SET_KILL, "t-notify", "pytest", "r", time.time_ns() + 10**10,
                        {"scope": "account", "key": "REF01", "level": "CANCEL_ONLY"}, 2, True).encode()
        early = Reply.decode(rpc(raw, frame))
        assert early.ok and not early.durable and not early.followup
        assert raw.poll(5000)
        note = Reply.decode(raw.recv())
        assert (note.id, note.followup, note.state_version) == ("t-notify", "durable", early.state_version)
        assert note.durable
    finally:
        raw.close(0)
    with core.client("operator") as op:  # the bridge client: applied at once, then --wait-durable semantics
        r = op.set_kill("firm", None, "HALTED", "contract", wait_durable=True)
        assert r.ok and r.durable and op.last_outcome is not None
        assert op.last_outcome.durable_ns is not None and op.last_outcome.applied_ns is not None
        assert op.last_outcome.durable_ns - op.last_outcome.applied_ns >= 100_000_000  # the 300 ms commit
        st = op.status().result
        assert st["durable_version"] == st["state_version"]
    core.assert_clean_exit()


# ----------------------------------------------------------------------------------------------- a bulk core
def test_bulk_rewind_in_chunks_and_the_flow_stops_at_max_events(refcore_binary: Path, tmp_path: Path) -> None:
    core = start_refcore(refcore_binary, tmp_path, "--assume-active", "--flow-interval-ms", "1",
                         "--flow-batch", "400", "--max-events", "20000")
    try:
        with core.client("monitor") as mon:
            assert mon.status().result["state_unknown"] is False
            wait_for(lambda: "synthetic flow stopped" in core.stderr(), 60, "the flow to reach --max-events")
            last = mon.status().result["last_seq"]
        assert last >= 20000
        chunks, end = rewind(core, {"v": 1, "epoch": core.epoch, "from_seq": 1, "to_seq": last}, timeout_s=30)
        assert end["code"] == "OK" and end["last_seq"] == last
        assert [len(c) for c in chunks[:-1]] == [REWIND_CHUNK] * (len(chunks) - 1) and len(chunks) >= 3
        allrecs = np.concatenate(chunks)
        assert allrecs["seq"].tolist() == list(range(1, last + 1))
    finally:
        core.assert_clean_exit()


def test_refcore_stops_on_sigterm_with_no_sanitizer_report(refcore: RefCore) -> None:
    refcore.assert_clean_exit()
