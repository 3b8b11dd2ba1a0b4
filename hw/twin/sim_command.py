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


MAX_STREAM_RATE = 10_000_000  # records/s; a paced stream (burst benchmark) runs at most this fast


@dataclass
class _StreamJob:
    remaining: int
    batch: int
    rate: int = 0  # records per second of the loop's monotonic clock; 0: as fast as possible
    t0_ns: int = 0
    done: int = 0

    def due(self, mono_ns: int) -> int:
        """Records the pace allows now (all remaining when unpaced)."""
        if not self.rate:
            return self.remaining
        return min(self.remaining, (mono_ns - self.t0_ns) * self.rate // 1_000_000_000 - self.done)


class SimCommand(PersistenceWiring):
    """Mixin of `server.TwinCore` (which initialises these fields; `_make_engine` registers `_sim`)."""

    seed: int
    _flow: FlowGenerator | None
    _flow_rate: int
    _flow_t0: int
    _flow_done: int
    _flow_count: int | None = None
    _flow_stamp_from: int | None = None
    _stream_job: _StreamJob | None

    def _sim(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        action = a.get("action")
        if action == "start_flow":
            rate, seed = a.get("rate", 100), a.get("seed", self.seed)
            count, stamp_from = a.get("count"), a.get("stamp_from_ns")
            if not _int_in(rate, 1, 100_000) or not _int_in(seed, 0, 2**63 - 1):
                raise ArgsInvalid("rate must be 1..100000 orders/s and seed a non-negative integer")
            if count is not None and not _int_in(count, 1, MAX_STREAM_COUNT):
                raise ArgsInvalid(f"count must be 1..{MAX_STREAM_COUNT} steps")
            if stamp_from is not None and not _int_in(stamp_from, 1, 2**63 - 1):
                raise ArgsInvalid("stamp_from_ns must be a positive UTC ns time")
            self.start_flow(rate, seed, count, stamp_from)  # type: ignore[arg-type]
            return {"flow_rate": rate, "seed": seed, "count": count, "stamp_from_ns": stamp_from}
        if action == "stop_flow":
            done = self._flow_done
            self._flow = None
            return {"flow_rate": 0, "steps": done}
        if action == "end_of_day":
            return {"expired": self.engine.end_of_day(now)}
        if action == "stream":
            count, batch, rate = a.get("count"), a.get("batch", 1000), a.get("rate", 0)
            if not _int_in(count, 1, MAX_STREAM_COUNT) or not _int_in(batch, 1, REWIND_CHUNK):
                raise ArgsInvalid(f"count must be 1..{MAX_STREAM_COUNT} and batch 1..{REWIND_CHUNK}")
            if rate != 0 and not _int_in(rate, 1, MAX_STREAM_RATE):
                raise ArgsInvalid(f"rate must be 1..{MAX_STREAM_RATE} records/s (0 or absent: unpaced)")
            if self._stream_job is not None:
                raise ArgsInvalid("a stream is already running")
            self._stream_job = _StreamJob(int(count), int(batch), int(rate),  # type: ignore[arg-type]
                                          time.monotonic_ns())
            return {"count": count, "batch": batch, "rate": rate, "epoch": self.engine.epoch,
                    "first_seq": self.engine.seq + 1}
        raise ArgsInvalid("action must be start_flow, stop_flow, end_of_day or stream")

    def start_flow(self, rate: int, seed: int, count: int | None = None, stamp_from_ns: int | None = None) -> None:
        """`count`: stop after that many steps. `stamp_from_ns`: stamp step i at stamp_from_ns + i/rate s
        instead of the wall clock, and never skip a step, so the same seed gives the same events, byte for byte,
        however the loop is scheduled (a reproducible session: the chaos run compares a day with faults
        against one without)."""
        self._flow = FlowGenerator(seed, max_working=LIVE_FLOW_MAX_WORKING)
        self._flow_rate = rate
        self._flow_t0 = time.monotonic_ns()
        self._flow_done = 0
        self._flow_count = count
        self._flow_stamp_from = stamp_from_ns

    def _run_flow(self, now: int) -> None:
        assert self._flow is not None
        due = (time.monotonic_ns() - self._flow_t0) * self._flow_rate // 1_000_000_000 - self._flow_done
        if self._flow_count is not None:
            due = min(due, self._flow_count - self._flow_done)
        stamped = self._flow_stamp_from is not None
        for _ in range(min(due, 2000)):
            if stamped:  # the engine adds the session clock's offset to `now`: take it out again
                now = (self._flow_stamp_from + self._flow_done * 1_000_000_000 // self._flow_rate  # type: ignore[operator]
                       - self.engine.event_clock_offset_ns)
            self._flow.step(self.engine, now)
            self._flow_done += 1
        if due > 2000 and not stamped:  # fell behind: skip rather than burst
            self._flow_done += due - 2000
        if self._flow_count is not None and self._flow_done >= self._flow_count:
            self._flow = None
