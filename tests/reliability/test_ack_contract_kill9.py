"""A durable ack is never lost across kill -9, wherever the kill lands (protocol v2, docs/protocol.md §3.8).

Each round resumes the firm, then sends a seeded random mix of tightening and loosening controls (kill
levels, resumes, limit lowers and raises) while a timer kills the twin with SIGKILL at a random moment; the
twin's test-only flush delay keeps several changes in its apply-to-durable window. After each restart:

- every loosening the twin acked was acked as durable, and is still applied: the same request is answered
  as a replay with its original state version (its id came back from the disk with its state change) and
  the restored state version is at least its own;
- the twin came back HALTED (an unclean stop), whatever tightening acks were lost in the window.

`ACK_KILL9_ROUNDS` (default 24) and `ACK_KILL9_SEED` (default 1313) set the rounds and the seed.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from core_bridge.protocol import Command, KillLevel, Reply, Request
from hw.twin.groupcommit import TEST_DELAY_ENV
from hw.twin.launch import TwinHandle, start_twin
from tests.fixtures.twin import curve_dealer

ROUNDS = int(os.environ.get("ACK_KILL9_ROUNDS", "24"))
SEED = int(os.environ.get("ACK_KILL9_SEED", "1313"))
SYMBOLS = ("AAPL", "MSFT", "TSLA", "SPY")
ACCOUNTS = ("PROP01", "PROP02")


@pytest.fixture
def twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwinHandle]:
    monkeypatch.setenv(TEST_DELAY_ENV, "3")  # a few ms: several changes wait for each flush
    handle = start_twin(tmp_path / "home")
    yield handle
    handle.stop()


def send(sock: zmq.Socket, req: Request, timeout_ms: int = 300) -> Reply | None:
    sock.send(req.encode())
    if not sock.poll(timeout_ms):
        return None
    return Reply.decode(sock.recv())


def new_request(cmd: Command, args: dict, n: int, rnd: int) -> Request:
    return Request(cmd, f"k9-{rnd}-{n}", "reliability", "kill -9 round", time.time_ns() + 60 * 10**9, args)


class Model:
    """What the acked commands left in force, to tell loosening from tightening ahead of sending."""

    def __init__(self, snap: dict) -> None:
        self.kill = {("symbol", k): KillLevel[v] for k, v in snap["kill"]["symbol"].items()}
        self.kill |= {("account", k): KillLevel[v] for k, v in snap["kill"]["account"].items()}
        self.qty = int(snap["limits"]["firm"]["max_order_qty"])

    def pick(self, rng: random.Random) -> tuple[Command, dict, bool, object]:
        """(command, args, loosening?, what to record on its ack)."""
        if rng.random() < 0.3:
            qty = rng.choice((1_000, 5_000, 9_000, 20_000, 50_000))
            return (Command.SET_LIMITS, {"account": None, "limits": {"max_order_qty": qty}, "approver": "risk"},
                    qty > self.qty, ("qty", qty))
        scope = rng.choice(("symbol", "account"))
        key = rng.choice(SYMBOLS if scope == "symbol" else ACCOUNTS)
        level = rng.choice(list(KillLevel))
        cur = self.kill.get((scope, key), KillLevel.ACTIVE)
        return (Command.SET_KILL, {"scope": scope, "key": key, "level": level.name}, level < cur,
                ("kill", (scope, key), level))

    def applied(self, what: object) -> None:
        if what[0] == "qty":  # type: ignore[index]
            self.qty = what[1]  # type: ignore[index]
        else:
            _, where, level = what  # type: ignore[misc]
            self.kill[where] = level


def test_durable_ack_when_killed_at_random_points_then_never_lost(twin: TwinHandle) -> None:
    rng = random.Random(SEED)
    lost_tight = 0
    durable_acks_checked = 0
    for rnd in range(ROUNDS):
        sock = curve_dealer(twin)
        try:
            resume = send(sock, new_request(Command.SET_KILL, {"scope": "firm", "key": None, "level": "ACTIVE"},
                                            0, rnd), 5000)
            assert resume is not None and resume.ok, resume
            assert resume.durable or resume.result["previous"] == "ACTIVE", resume  # a no-op is no loosening
            snap = send(sock, Request(Command.SNAPSHOT, f"k9s-{rnd}", "r", "r", time.time_ns() + 10**10), 5000)
            assert snap is not None
            model = Model(snap.result)
            acked: list[tuple[Request, Reply, bool]] = []
            killer = threading.Timer(rng.uniform(0.002, 0.060), twin.kill)
            killer.start()
            for n in range(1, 400):
                cmd, args, loosening, what = model.pick(rng)
                req = new_request(cmd, args, n, rnd)
                rep = send(sock, req)
                if rep is None:
                    break  # killed
                assert rep.ok, rep
                if loosening:
                    assert rep.durable, f"a loosening was acked before it was durable: {req} -> {rep}"
                acked.append((req, rep, loosening))
                model.applied(what)
            killer.join()
        finally:
            sock.close(0)
        twin.kill()  # in case the loop ran out before the timer (it never should)
        twin.restart()
        sock = curve_dealer(twin)
        try:
            st = send(sock, Request(Command.STATUS, f"k9st-{rnd}", "r", "r", time.time_ns() + 10**10), 5000)
            assert st is not None
            assert (st.result["trading_state"], st.result["start"]) == ("HALTED", "unclean"), st.result
            for req, rep, _loosening in acked:
                if not rep.durable:
                    continue  # a tightening acked inside the window: it may be lost, the firm is HALTED anyway
                durable_acks_checked += 1
                assert st.state_version >= rep.state_version
                again = send(sock, req, 5000)
                assert again is not None and again.ok and again.state_version == rep.state_version, (req, again)
            restored = st.state_version - 1  # the unclean start adds one version
            lost_tight += sum(1 for _, rep, _ in acked if rep.state_version > restored)
        finally:
            sock.close(0)
    assert durable_acks_checked >= ROUNDS - 1  # the firm resume of every round after the first, at least
    print(f"{ROUNDS} kill -9 rounds (seed {SEED}): {durable_acks_checked} durable acks all kept; "
          f"{lost_tight} tightening acks were inside the apply-to-durable window when killed")
