"""10,000 garbage frames on every endpoint: the twin keeps running and its state does not move."""

from __future__ import annotations

import json
import random
import socket
from typing import Any

import zmq

from core_bridge.auth import client_keypair
from core_bridge.protocol import Command
from hw.twin.launch import TwinHandle
from tests.fixtures.twin import curve_dealer, curve_socket, request, rpc, unknown_dealer

VOLATILE = {"core_time_ns", "uptime_s", "auth_failures"}
# A value of each JSON kind; per key the kinds that key accepts are left out, so every value is a wrong type.
POOL: list[Any] = [None, True, 1.5, -1, 2**70, "", "x" * 300, "PROP01", {"a": {"b": []}}, [None], ["x" * 20], 0]
KEYS = {
    "set_kill": {"scope": str, "key": str, "level": str},
    "cancel_all": {"scope": str, "key": str},
    "set_limits": {"account": str, "limits": dict, "approver": str, "until_ns": int},
    "set_bp": {"bp": dict, "as_of_ns": int},
    "set_locates": {"date": str, "locates": dict},
    "set_restricted": {"symbols": list},
    "set_halts": {"halts": dict, "mwcb_level": int},
    "set_sod_positions": {"date": str, "positions": dict},
    "submit_orders": {"orders": list},
    "sim": {"action": str, "count": int},
}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()  # stdlib json: it writes integers beyond 64 bits too


def wrong(rng: random.Random, kind: type) -> Any:
    while True:
        v = rng.choice(POOL)
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            return v


def control_garbage(rng: random.Random) -> list[bytes]:
    r = rng.random()
    if r < 0.25:
        return [rng.randbytes(rng.randrange(0, 600))]
    if r < 0.35:
        return [rng.randbytes(rng.randrange(0, 40)) for _ in range(rng.randrange(2, 6))]  # wrong frame count
    if r < 0.70:
        cmd = rng.choice(list(KEYS))
        args = {k: wrong(rng, t) for k, t in KEYS[cmd].items()}
        return [dumps({"v": 1, "cmd": cmd, "id": f"fz{rng.random()}", "operator": "fuzz", "reason": "fuzz",
                              "expires_ns": 2**62, "args": args})]
    if r < 0.80:  # envelope fields of the wrong type, or huge
        obj: dict[str, Any] = {"v": wrong(rng, int), "cmd": rng.choice(["set_kill", 7, None, "x" * 70]),
                               "id": rng.choice(["a" * 100_000, 12345678901234567890, None, ""]),
                               "operator": wrong(rng, str), "reason": "fuzz", "expires_ns": wrong(rng, int)}
        return [dumps(obj)]
    if r < 0.90:  # a perfectly valid kill that arrives expired
        return [request(Command.SET_KILL, {"scope": "firm", "key": None, "level": "HALTED"}, ttl_s=-1).encode()]
    return [dumps(rng.choice([[], [1, 2], "str", 12, None, {"v": 1}]))]


def rewind_garbage(rng: random.Random) -> list[bytes]:
    r = rng.random()
    if r < 0.3:
        return [rng.randbytes(rng.randrange(0, 300))]
    if r < 0.4:
        return [rng.randbytes(8) for _ in range(rng.randrange(2, 5))]
    if r < 0.8:
        return [dumps({"v": rng.choice([1, "1", None, 2]), "epoch": rng.choice(POOL),
                              "from_seq": rng.choice(POOL), "to_seq": rng.choice(POOL)})]
    return [dumps({"v": 1, "epoch": rng.choice([1, 2, 10**12]), "from_seq": rng.randrange(0, 10**6),
                          "to_seq": rng.randrange(10**6, 10**18)})]  # out of range or unknown epoch


def blast(sock: zmq.Socket, frames: list[list[bytes]]) -> None:
    """Send in bursts and drain whatever comes back (replies are not the point here)."""
    for i in range(0, len(frames), 200):
        for f in frames[i:i + 200]:
            sock.send_multipart(f)
        while sock.poll(50):
            sock.recv_multipart()


def test_fuzz_when_10000_garbage_frames_on_every_endpoint_then_twin_serves_and_state_unchanged(
        twin_core: TwinHandle) -> None:
    rng = random.Random(20261122)
    op = curve_dealer(twin_core, "operator")
    before = rpc(op, Command.SNAPSHOT).result
    sockets = []
    try:
        for ident in ("operator", "admin", "monitor"):
            s = curve_dealer(twin_core, ident)
            sockets.append(s)
            blast(s, [control_garbage(rng) for _ in range(2000)])
        rw = curve_dealer(twin_core, "capture", "rewind")
        sockets.append(rw)
        blast(rw, [rewind_garbage(rng) for _ in range(3000)])
        # unknown keys on every endpoint, and garbage "subscriptions" on the PUB side
        for ep in ("control", "rewind"):
            s = unknown_dealer(twin_core, ep)
            sockets.append(s)
            for _ in range(250):
                try:
                    s.send(rng.randbytes(rng.randrange(1, 200)), zmq.NOBLOCK)
                except zmq.Again:
                    break  # the core has refused the key at the handshake: the DEALER has no peer left to queue to
        for ep in ("telemetry", "dropcopy"):
            for keys in (None, client_keypair(twin_core.keys_dir, "monitor")):
                s = unknown_dealer(twin_core, ep, zmq.XSUB) if keys is None else \
                    curve_socket(twin_core, zmq.XSUB, keys, ep)
                sockets.append(s)
                for _ in range(125):
                    s.send(rng.randbytes(rng.randrange(0, 100)))
        # plain TCP garbage (no ZMTP greeting at all) on every port
        for port in twin_core.ports.values():
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                raw.sendall(rng.randbytes(4096))
        after = rpc(op, Command.SNAPSHOT).result
        hello = rpc(curve_dealer(twin_core, "monitor"), Command.HELLO)
    finally:
        for s in sockets:
            s.close(0)
        op.close(0)
    assert hello.ok and twin_core.is_running()
    assert {k: v for k, v in after.items() if k not in VOLATILE} == \
        {k: v for k, v in before.items() if k not in VOLATILE}
