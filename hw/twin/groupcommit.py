"""The twin's group commit: applied changes are made durable off the control path, in batches.

Why: under protocol v2 (docs/protocol.md §3.8) a tightening control is acked as soon as it is applied and
must be durable within `GROUP_COMMIT_INTERVAL_US`; a loosening one is acked once durable. So the control
loop must never wait for the disk for a tightening, and a flush should cover every change applied while the
previous flush was running.

How: the control loop stages each change's state-log record (`statestore.prepare_state`: encoding only, the
log's offsets assigned in order) and hands it to one flusher thread with the state version it makes durable.
The flusher takes every record queued so far, writes them (contiguous records of one log in one `pwrite`),
`fdatasync`s once, publishes the highest version covered as `durable_version` and wakes the loop through a
pipe the loop polls (`notify_fd`). The flusher starts on a batch as soon as one is queued, so the lag of a
change is at most the flush in progress plus its own; the write itself runs on the flusher (the loop never
blocks on I/O for a log record), and the GIL is released in both system calls.

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
import socket
import struct
import threading
import time
from collections import deque
from pathlib import Path

from hw.twin.state import TwinState
from hw.twin.statestore import (
    LOG_FILE,
    StagedRecord,
    abandon_log,
    flush_records,
    prepare_state,
    stage_state,
    write_record,
)

log = logging.getLogger("hw.twin")

TEST_DELAY_ENV = "COLO_OPS_TWIN_TEST_COMMIT_DELAY_MS"
LAG_SAMPLES_MAX = 65_536


class GroupCommit:
    """Durability of one state directory's state log, off the control loop. Loop-side methods: `submit`,
    `drain`, `recover`, `take_notifications`, `close`; `durable_version` is read anywhere."""

    def __init__(self, state_dir: Path, durable_version: int, *, delay_s: float = 0.0) -> None:
        self.state_dir = state_dir
        self.durable_version = durable_version  # every version <= this is on disk
        self.submitted_version = durable_version  # the highest version handed over (or snapshotted)
        self.delay_s = delay_s
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
            while (self._queue or self._busy) and self.failed is None:
                self._cond.wait(0.5)

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
                    self._cond.wait()
                if not self._queue:
                    return
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


# ------------------------------------------------------------------------------------------ helper process
MODE_ENV = "COLO_OPS_TWIN_GROUP_COMMIT"  # "process" (default in a single-threaded twin) or "thread"
_MSG = struct.Struct("<QQIII")  # version, offset, log generation, kind, data length
_ACK = struct.Struct("<Q")
_RECORD, _MARK, _CLOSE = 0, 1, 2
_FAILED = 2**64 - 1


def open_group_commit(state_dir: Path, durable_version: int, *, delay_s: float = 0.0) -> GroupCommit:
    """The twin's group commit: a forked helper process when this process has no other thread yet (so the
    flushes never contend with the control loop for the GIL), else a thread. `COLO_OPS_TWIN_GROUP_COMMIT`
    = thread|process overrides."""
    mode = os.environ.get(MODE_ENV, "")
    if mode == "process" or (mode != "thread" and threading.active_count() == 1 and hasattr(os, "fork")):
        return ProcessGroupCommit(state_dir, durable_version, delay_s=delay_s)
    return GroupCommit(state_dir, durable_version, delay_s=delay_s)


class ProcessGroupCommit(GroupCommit):
    """The same group commit with its writer in a forked helper process instead of a thread.

    The loop sends each staged record (its log generation, offset, bytes and the version it makes durable)
    over a socketpair; the helper takes every message queued, writes them (contiguous ones in one pwrite),
    fdatasyncs once and answers with the highest version covered (or a failure). The loop reads those
    answers whenever it looks at `durable_version` and when the socket (`notify_fd`) is readable. After a
    snapshot the log file is a new one: the generation moves and the helper reopens `state.log`. The helper
    dies with the twin (PR_SET_PDEATHSIG), so a kill -9 of the twin stops the writes it had not made yet."""

    def __init__(self, state_dir: Path, durable_version: int, *, delay_s: float = 0.0) -> None:
        self.state_dir = state_dir
        self._durable = durable_version
        self.submitted_version = durable_version
        self.delay_s = delay_s
        self.failed = None
        self.want_wake = False
        self.batches = 0
        self.lag_ns = []
        self._pending: deque[tuple[int, int]] = deque()  # (version, submitted ns) not yet acked
        self._gen = 0
        self._inbuf = b""
        self._closed = False
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # the helper: os calls only (no logging, no imports, no threads)
            parent.close()
            code = 0
            try:
                _helper(child, str(state_dir / LOG_FILE), delay_s)
            except BaseException:
                code = 1
            os._exit(code)
        child.close()
        self._pid = pid
        self._sock = parent

    @property  # type: ignore[override]
    def durable_version(self) -> int:
        self._read_acks(block=False)
        return self._durable

    @durable_version.setter
    def durable_version(self, value: int) -> None:
        self._durable = value

    @property
    def notify_fd(self) -> int:
        return self._sock.fileno()

    def _send(self, version: int, offset: int, kind: int, data: bytes = b"") -> None:
        try:
            self._sock.sendall(_MSG.pack(version, offset, self._gen, kind, len(data)) + data)
        except OSError as exc:
            self.failed = exc

    def submit(self, state: TwinState) -> None:
        version = state.state_version
        staged = "snapshot" if self.failed is not None else stage_state(self.state_dir, state)
        if staged == "snapshot":
            self.drain()
            self._snapshot(state, version)
            return
        if staged is None:
            self._send(version, 0, _MARK)
        else:
            self._send(version, staged.offset, _RECORD, staged.data)
        self._pending.append((version, time.monotonic_ns()))
        self.submitted_version = max(self.submitted_version, version)

    def _snapshot(self, state: TwinState, version: int) -> None:
        prepare_state(self.state_dir, state, snapshot=True)
        self._gen += 1  # a new log file: the helper reopens it with the next record
        self.failed = None
        self.submitted_version = max(self.submitted_version, version)
        self._durable = max(self._durable, version)
        self._pending.clear()

    def _read_acks(self, *, block: bool) -> None:
        while self._pending and self.failed is None:
            try:
                chunk = self._sock.recv(65536, 0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as exc:
                self.failed = exc
                return
            if not chunk:
                self.failed = OSError("group-commit helper exited")
                return
            data = self._inbuf + chunk
            n = len(data) // _ACK.size * _ACK.size
            self._inbuf = data[n:]
            now = time.monotonic_ns()
            for (acked,) in _ACK.iter_unpack(data[:n]):
                if acked == _FAILED:
                    self.failed = OSError("the group-commit helper could not write or flush the state log")
                    return
                self.batches += 1
                self._durable = max(self._durable, acked)
                while self._pending and self._pending[0][0] <= acked:
                    _, t = self._pending.popleft()
                    if len(self.lag_ns) < LAG_SAMPLES_MAX:
                        self.lag_ns.append(now - t)
            if block:
                return

    def drain(self) -> None:
        deadline = time.monotonic() + 30
        while self._pending and self.failed is None and time.monotonic() < deadline:
            self._read_acks(block=True)

    def recover(self, state: TwinState) -> None:
        log.error("state log flush failed (%r): writing a full snapshot, then flushing in this process",
                  self.failed)
        self._pending.clear()
        abandon_log(self.state_dir)
        self._snapshot(state, state.state_version)
        self._stop_helper()
        self._fallback = GroupCommit(self.state_dir, self._durable, delay_s=self.delay_s)
        self.submit = self._fallback.submit  # type: ignore[method-assign]

    def take_notifications(self) -> int:
        return self.durable_version

    def close(self) -> None:
        if self._closed:
            return
        self.drain()
        self._stop_helper()
        fallback = getattr(self, "_fallback", None)
        if fallback is not None:
            fallback.close()

    def _stop_helper(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.sendall(_MSG.pack(0, 0, self._gen, _CLOSE, 0))
        except OSError:
            pass
        self._sock.close()
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


def _die_with_parent() -> None:
    try:
        import ctypes  # already imported by the stdlib's own users in most processes; cheap either way

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass  # then the helper stops at the socket's end of file


def _helper(sock: socket.socket, log_path: str, delay_s: float) -> None:
    """The helper process's loop: messages in, writes + one fdatasync per batch, the highest version out."""
    _die_with_parent()
    buf = b""
    fd, gen = -1, -1
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        buf += chunk
        while True:  # everything queued meanwhile joins this flush
            try:
                more = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not more:
                break
            buf += more
        msgs = []
        pos = 0
        while len(buf) - pos >= _MSG.size:
            version, offset, mgen, kind, length = _MSG.unpack_from(buf, pos)
            if len(buf) - pos - _MSG.size < length:
                break
            start = pos + _MSG.size
            msgs.append((version, offset, mgen, kind, buf[start:start + length]))
            pos = start + length
        buf = buf[pos:]
        if not msgs:
            continue
        if delay_s:
            time.sleep(delay_s)
        top = 0
        closing = False
        try:
            wrote = False
            run_off, run = -1, b""
            for version, offset, mgen, kind, data in msgs:
                if kind == _CLOSE:
                    closing = True
                    continue
                top = max(top, version)
                if kind != _RECORD:
                    continue
                if mgen != gen:
                    if run:
                        _pwrite_all(fd, run, run_off)
                        os.fdatasync(fd)
                        run = b""
                    if fd >= 0:
                        os.close(fd)
                    fd, gen = os.open(log_path, os.O_WRONLY), mgen
                if run and offset == run_off + len(run):
                    run += data
                    continue
                if run:
                    _pwrite_all(fd, run, run_off)
                run_off, run = offset, data
                wrote = True
            if run:
                _pwrite_all(fd, run, run_off)
            if wrote:
                os.fdatasync(fd)
            ack = top
        except OSError:
            ack = _FAILED
        if top or ack == _FAILED:
            sock.sendall(_ACK.pack(ack))
        if closing:
            return


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    if written != len(data):
        raise OSError(f"short write ({written} of {len(data)} bytes)")
