"""The twin-only `sim` command: live simulated order flow, end of day, and stream bursts.

A real core has no such command; the twin has it so tests, the demo and the benchmarks can make a day
happen: `start_flow`/`stop_flow` drive `market.FlowGenerator` at a rate from the loop, `end_of_day` expires
DAY orders, `stream` queues a burst of synthetic records that the loop publishes in batches
(`ha_wiring.HaWiring._run_stream`, since every batch is replicated before it is published).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core_bridge.auth import Identity
from core_bridge.protocol import REWIND_CHUNK, Request
from hw.twin.command_args import ArgsInvalid, _int_in
from hw.twin.market import FlowGenerator
from hw.twin.persistence import PersistenceWiring

MAX_STREAM_COUNT = 500_000_000
LIVE_FLOW_MAX_WORKING = 200  # a live flow never reaches a close, so the oldest resting orders get cancelled


@dataclass
class _StreamJob:
    remaining: int
    batch: int


class SimCommand(PersistenceWiring):
    """Mixin of `server.TwinCore` (which initialises these fields; `_make_engine` registers `_sim`)."""

    seed: int
    _flow: FlowGenerator | None
    _flow_rate: int
    _flow_t0: int
    _flow_done: int
    _stream_job: _StreamJob | None

    def _sim(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        action = a.get("action")
        if action == "start_flow":
            rate, seed = a.get("rate", 100), a.get("seed", self.seed)
            if not _int_in(rate, 1, 100_000) or not _int_in(seed, 0, 2**63 - 1):
                raise ArgsInvalid("rate must be 1..100000 orders/s and seed a non-negative integer")
            self.start_flow(rate, seed)
            return {"flow_rate": rate, "seed": seed}
        if action == "stop_flow":
            self._flow = None
            return {"flow_rate": 0}
        if action == "end_of_day":
            return {"expired": self.engine.end_of_day(now)}
        if action == "stream":
            count, batch = a.get("count"), a.get("batch", 1000)
            if not _int_in(count, 1, MAX_STREAM_COUNT) or not _int_in(batch, 1, REWIND_CHUNK):
                raise ArgsInvalid(f"count must be 1..{MAX_STREAM_COUNT} and batch 1..{REWIND_CHUNK}")
            if self._stream_job is not None:
                raise ArgsInvalid("a stream is already running")
            self._stream_job = _StreamJob(int(count), int(batch))  # type: ignore[arg-type]
            return {"count": count, "batch": batch, "epoch": self.engine.epoch, "first_seq": self.engine.seq + 1}
        raise ArgsInvalid("action must be start_flow, stop_flow, end_of_day or stream")

    def start_flow(self, rate: int, seed: int) -> None:
        self._flow = FlowGenerator(seed, max_working=LIVE_FLOW_MAX_WORKING)
        self._flow_rate = rate
        self._flow_t0 = time.monotonic_ns()
        self._flow_done = 0

    def _run_flow(self, now: int) -> None:
        assert self._flow is not None
        due = (time.monotonic_ns() - self._flow_t0) * self._flow_rate // 1_000_000_000 - self._flow_done
        for _ in range(min(due, 2000)):
            self._flow.step(self.engine, now)
            self._flow_done += 1
        if due > 2000:  # fell behind: skip rather than burst
            self._flow_done += due - 2000
