"""The writer's helper thread: SHA-256, os.write and fdatasync off the appending thread.

Why: the capture must keep up with the core (>1 M events/s); hashlib (for buffers > 2 KiB), os.write and
os.fdatasync release the GIL, so doing them here overlaps the next batch's CRCs. FIFO order is what keeps the
group commit honest: a sync job covers exactly the writes queued before it.
"""

from __future__ import annotations

import os
import queue
import threading
from typing import Any, Protocol

import numpy as np

from core_bridge.errors import JournalError


class _Hashing(Protocol):
    """What the thread needs of the writer (core_bridge.journal.writer.Journal, which imports this module)."""

    _hash: Any  # SHA-256 of the active segment; the writer starts a new one per segment


class IoThread:
    """Hashing, writing and fdatasync off the appending thread, in FIFO order.

    hashlib (for buffers > 2 KiB), os.write and os.fdatasync all release the GIL, so they overlap the next
    batch's CRCs on the appending thread. A sync job fdatasyncs after every write queued before it, and
    reports its target (records, epoch, seq) as durable only when the fdatasync returned."""

    def __init__(self, journal: _Hashing, depth: int = 64) -> None:
        self._j = journal
        self._q: queue.Queue[tuple[str, int, Any]] = queue.Queue(maxsize=depth)
        self._lock = threading.Lock()
        self._done: tuple[int, int, int] | None = None
        self._error: OSError | None = None
        self.sync_pending = False
        self._thread = threading.Thread(target=self._loop, name="journal-io", daemon=True)
        self._thread.start()

    def write(self, fd: int, buf: np.ndarray) -> None:
        self._check()
        self._q.put(("write", fd, buf))

    def sync(self, fd: int, target: tuple[int, int, int]) -> None:
        self._check()
        self.sync_pending = True
        self._q.put(("sync", fd, target))

    def drain(self) -> None:
        """Wait until everything queued so far is hashed, written (and synced, if asked)."""
        self._q.join()
        self._check()

    def reap(self) -> tuple[int, int, int] | None:
        self._check()
        with self._lock:
            done, self._done = self._done, None
        return done

    def _check(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise JournalError(f"journal write/fdatasync failed: {err}")

    def _loop(self) -> None:
        while True:
            kind, fd, arg = self._q.get()
            try:
                if kind == "stop":
                    return
                if self._error is not None:
                    continue  # after a failed write nothing more may be written or acknowledged
                if kind == "write":
                    mv = memoryview(arg.view(np.uint8))
                    self._j._hash.update(mv)
                    written = 0
                    while written < len(mv):
                        written += os.write(fd, mv[written:])
                else:
                    os.fdatasync(fd)
                    with self._lock:
                        self._done = arg
                    self.sync_pending = False
            except OSError as exc:
                self._error = exc
                self.sync_pending = False
            finally:
                self._q.task_done()

    def stop(self) -> None:
        self._q.put(("stop", -1, None))
        self._thread.join()
