"""Batched store writes off the FIX engine's thread: the callback parses and queues, this thread commits.

Why batches: one transaction per message caps the session at a few thousand executions per second; one per
batch (up to `max_rows`, or whatever arrived within `max_wait_s`) keeps up with the engine. Safety does not
depend on the queue: the session restarts from the last sequence number a batch committed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from sqlalchemy import Engine

from flows.fixdrop import store

log = logging.getLogger("colo_ops.fixdrop")


class BatchWriter:
    def __init__(self, engine: Engine, session_key: str, *, last_seq: int = 0, garbled: int = 0,
                 max_rows: int = 5000, max_wait_s: float = 0.05) -> None:
        self.engine = engine
        self.session_key = session_key
        self.committed_seq = last_seq
        self.garbled = garbled
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.stored = 0  # rows handed to the store (duplicates included: the store keeps one)
        self.error: BaseException | None = None
        self._abandoned = False
        self._q: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="fixdrop-writer", daemon=True)
        self._thread.start()

    def put(self, row: dict[str, Any]) -> None:
        with self._idle:
            self._pending += 1
        self._q.put(row)

    def reset_seq(self, last: int) -> None:
        """The counterparty renumbered (SequenceReset-Reset, or a Logon with ResetSeqNumFlag): from here on
        the committed inbound number is `last`, even if lower than before."""
        with self._idle:
            self._pending += 1
        self._q.put({"_reset_to": last})

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything queued so far is committed."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return self.error is None

    def stop(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=30)

    def abandon(self) -> None:
        """Stop without committing what is queued (what a killed process does)."""
        self._abandoned = True
        self.stop()

    def _run(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            done = False
            while len(batch) < self.max_rows:
                try:
                    item = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    done = True
                    break
                batch.append(item)
            self._commit(batch)
            if done:
                return

    def _commit(self, batch: list[dict[str, Any]]) -> None:
        if self._abandoned:
            return
        rows = [r for r in batch if "_reset_to" not in r]
        seq = self.committed_seq
        for r in batch:  # in arrival order: a reset may move the number back
            seq = int(r["_reset_to"]) if "_reset_to" in r else max(seq, int(r["msg_seq"]))
        try:
            store.write_batch(self.engine, rows, self.session_key, seq, self.garbled)
        except BaseException as exc:  # the store refused: stop committing (the session re-requests on restart)
            log.exception("drop-copy batch of %d rows not stored", len(rows))
            self.error = exc
            with self._idle:
                self._idle.notify_all()
            return
        self.committed_seq = seq
        self.stored += len(rows)
        with self._idle:
            self._pending -= len(batch)
            self._idle.notify_all()
