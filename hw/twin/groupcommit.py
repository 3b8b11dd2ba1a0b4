"""The twin's group commit: applied changes are made durable off the control path, in batches.

Why: under protocol v2 (docs/protocol.md §3.8) a tightening control is acked as soon as it is applied and
must be durable within `GROUP_COMMIT_INTERVAL_US`; a loosening one is acked once durable. So the control
loop must never wait for the disk for a tightening, and a flush should cover every change applied while the
previous flush was running.

How: the control loop stages each change's state-log record (`statestore.prepare_state`: encoding only, the
log's offsets assigned in order) and hands it to one flusher thread with the state version it makes durable.
The flusher takes every record queued so far, writes them (contiguous records of one log in one `pwrite`),
`fdatasync`s once, publishes the highest version covered as `durable_version` and wakes the loop through a
pipe the loop polls (`notify_fd`). When the loop waits for the disk (a held loosening ack, a durable
follow-up, a drain: `want_wake`), the flusher starts on a batch as soon as one is queued, so the lag of a
change is at most the flush in progress plus its own; when nobody waits (a stream of tightening controls) it
gathers changes for up to `COALESCE_NS` after the oldest one first. The write itself runs on the flusher (the
loop never blocks on I/O for a log record), and the GIL is released in both system calls.

A full snapshot (on start, every `COMPACT_RECORDS` records, when the log segment is full, on a clean stop)
is written by the loop itself after `drain()`: it replaces the log the queued records go to.

A failed write or flush is never taken for durable: the flusher stops advancing `durable_version`, the loop
sees `failed` and `recover()` writes a full snapshot (durable when it returns) or raises.

Test-only: `COLO_OPS_TWIN_TEST_COMMIT_DELAY_MS` (read by the server) makes the flusher wait that long before
it writes a batch, to widen the apply-to-durable window a crash test kills into. Never set it in production.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

from core_bridge.protocol import GROUP_COMMIT_INTERVAL_US
from hw.twin.state import TwinState
from hw.twin.statestore import (
    StagedRecord,
    abandon_log,
    flush_records,
    prepare_state,
    stage_state,
    write_record,
)

log = logging.getLogger("hw.twin")

TEST_DELAY_ENV = "COLO_OPS_TWIN_TEST_COMMIT_DELAY_MS"
# How long a flush nobody waits for may gather changes: half the contract's GROUP_COMMIT_INTERVAL_US, so the
# flush still starts inside it when the previous one ran long. A kill stream then costs the host one
# fdatasync per ~1 ms instead of one per kill (each is CPU and journal time a control round trip feels).
COALESCE_NS = GROUP_COMMIT_INTERVAL_US * 1000 // 2
LAG_SAMPLES_MAX = 65_536


class GroupCommit:
    """Durability of one state directory's state log, off the control loop. Loop-side methods: `submit`,
    `drain`, `recover`, `take_notifications`, `close`; `durable_version` is read anywhere."""

    def __init__(self, state_dir: Path, durable_version: int, *, delay_s: float = 0.0,
                 coalesce_ns: int = COALESCE_NS) -> None:
        self.state_dir = state_dir
        self.durable_version = durable_version  # every version <= this is on disk
        self.submitted_version = durable_version  # the highest version handed over (or snapshotted)
        self.delay_s = delay_s
        self.coalesce_ns = coalesce_ns
        self._hurry = False  # a drain waits: flush what is queued now
        self._idle = False  # the flusher waits for a first record (only then does `submit` notify)
        self.failed: BaseException | None = None
        # The loop holds acks or follow-ups waiting for the disk: only then does a flush wake it (a kill-only
        # stream never waits, so it is not woken once per flush). The loop re-checks durable_version after
        # setting it, so a flush that ends in between is never missed.
        self.want_wake = False
        self.batches = 0  # flushes made (a flush covers one or more submitted versions)
        self.lag_ns: list[int] = []  # submit -> durable per version, for telemetry (drained by `take_lags`)
        self._queue: deque[tuple[StagedRecord | None, int, int]] = deque()  # (record, version, submitted ns)
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._thread = threading.Thread(target=self._run, name="twin-group-commit", daemon=True)
        self._thread.start()

    @property
    def notify_fd(self) -> int:
        """Readable when `durable_version` moved (or a flush failed): poll it, then `take_notifications()`."""
        return self._rfd

    # ------------------------------------------------------------------ loop side
    def submit(self, state: TwinState) -> None:
        """Make `state` (at its current state_version) durable soon. Returns at once, except when a full
        snapshot is due: then the queue is drained and the snapshot written before returning (durable)."""
        version = state.state_version
        staged = "snapshot" if self.failed is not None else stage_state(self.state_dir, state)
        if staged == "snapshot":
            self.drain()
            self._snapshot(state, version)
            return
        with self._cond:
            self._queue.append((staged, version, time.monotonic_ns()))
            self.submitted_version = max(self.submitted_version, version)
            if self._idle:  # a flusher gathering a batch wakes at its deadline, or on `waiting()`
                self._cond.notify()

    def waiting(self) -> None:
        """The loop now waits for the disk: end a coalescing wait (`want_wake` is already set)."""
        with self._cond:
            self._cond.notify()

    def snapshot(self, state: TwinState) -> None:
        """Drain, then a full snapshot of `state`: everything is durable when this returns."""
        self.drain()
        self._snapshot(state, state.state_version)

    def _snapshot(self, state: TwinState, version: int) -> None:
        prepare_state(self.state_dir, state, snapshot=True)
        self.failed = None
        self.submitted_version = max(self.submitted_version, version)
        self.durable_version = max(self.durable_version, version)
        if self.want_wake:
            self._wake()

    def drain(self) -> None:
        """Wait until every submitted record is written and flushed (or the flusher failed)."""
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            while (self._queue or self._busy) and self.failed is None:
                self._cond.wait(0.5)
            self._hurry = False

    def recover(self, state: TwinState) -> None:
        """After a failed flush: a full snapshot of the current state (raises if the disk refuses that too)."""
        log.error("state log flush failed (%r): writing a full snapshot", self.failed)
        self.drain()
        with self._cond:
            self._queue.clear()
        abandon_log(self.state_dir)
        self._snapshot(state, state.state_version)

    def take_notifications(self) -> int:
        """Consume the wake-ups; returns the durable version now."""
        if self._rfd < 0:
            return self.durable_version
        try:
            while os.read(self._rfd, 4096):
                pass
        except BlockingIOError:
            pass
        return self.durable_version

    def take_lags(self) -> list[int]:
        lags, self.lag_ns = self.lag_ns, []
        return lags

    def close(self) -> None:
        """Drain and stop the flusher (the caller then snapshots and marks the clean stop)."""
        self.drain()
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout=5)
        fds, self._rfd, self._wfd = (self._rfd, self._wfd), -1, -1
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass

    # ------------------------------------------------------------------ flusher thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                if not self._queue:
                    return
                # Nobody waits for this flush (a stream of tightening controls): let it gather what the loop
                # applies for up to COALESCE_NS after the oldest record, well inside the contract's bound.
                # A waiter (a held ack, a follow-up, a drain) or a close ends the wait at once.
                oldest = self._queue[0][2]
                while not (self.want_wake or self._hurry or self._closing):
                    left = oldest + self.coalesce_ns - time.monotonic_ns()
                    if left <= 0:
                        break
                    self._cond.wait(left / 1e9)
                batch = list(self._queue)
                self._queue.clear()
                self._busy = True
            try:
                if self.delay_s:
                    time.sleep(self.delay_s)
                self._write(batch)
            except BaseException as exc:  # never durable on an error: the loop recovers with a snapshot
                with self._cond:
                    self.failed = exc
                    self._busy = False
                    self._cond.notify_all()
                self._wake()
                continue
            now = time.monotonic_ns()
            with self._cond:
                self.durable_version = max(self.durable_version, max(v for _, v, _ in batch))
                self.batches += 1
                if len(self.lag_ns) < LAG_SAMPLES_MAX:
                    self.lag_ns.extend(now - t for _, _, t in batch)
                self._busy = False
                self._cond.notify_all()
            if self.want_wake:
                self._wake()

    def _write(self, batch: list[tuple[StagedRecord | None, int, int]]) -> None:
        records = [r for r, _, _ in batch if r is not None]
        fds: list[int] = []
        run: StagedRecord | None = None
        for rec in records:
            if run is not None and rec.fd == run.fd and rec.offset == run.offset + len(run.data):
                run = StagedRecord(run.key, run.fd, run.offset, run.data + rec.data)
                continue
            if run is not None:
                write_record(run)
            run = rec
            if rec.fd not in fds:
                fds.append(rec.fd)
        if run is not None:
            write_record(run)
        for fd in fds:
            flush_records(fd)

    def _wake(self) -> None:
        if self._wfd < 0:
            return
        try:
            os.write(self._wfd, b"d")
        except (BlockingIOError, OSError):
            pass  # the pipe is full of wake-ups already (or closed at exit)
