"""Parsing and booking the drop copy in a process of its own, fed raw messages in batches over a pipe.

Why a process: the FIX engine calls Python for every message while holding the GIL, and a parse (~15 µs)
plus an insert (~13 µs) per message on the engine's thread, or on a second thread of the same process
competing for the GIL, held the session to ~12,000 executions/s against the bare engine's ~30,000. The
engine's callback now only takes the message's string and appends it to a list; this process, on the other
core, parses, validates and commits each batch in one transaction with the batch's last sequence number.

Safety does not depend on the pipe: the session restarts from the last sequence number a batch committed,
so a batch lost with a killed process is asked for again. A report that cannot be booked comes back in the
batch's acknowledgement and the initiator rejects it on the session (35=3 naming the tag).

Child: `python -m flows.fixdrop.booker <read fd> <write fd>`. The first message is its configuration; each
batch is `(received_ns, garbled, items)` with items a raw message (str) or a sequence reset (int); the reply
is `("ack", committed_seq, stored, items, rejects)` or `("error", text)`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("colo_ops.fixdrop")


@dataclass(frozen=True)
class Rejected:
    """A report the booker refused: the raw message, why, and its sequence number and tag when known."""

    raw: str
    error: str
    reason: str
    seq: int | None
    tag: int | None


Item = str | int  # a raw ExecutionReport, or the sequence number a reset moved the session back to


def book(items: list[Item], seq: int, received_ns: int) -> tuple[list[dict[str, Any]], list[Rejected], int]:
    """(rows to store, refused reports, last sequence number) of one batch, in arrival order: a reset may move
    the number back; a refused report still consumed its number."""
    from flows.errors import FixReportError
    from flows.fixdrop.parse import report_row

    rows: list[dict[str, Any]] = []
    rejects: list[Rejected] = []
    for it in items:
        if isinstance(it, int):
            seq = it
            continue
        try:
            row = report_row(it, received_ns)
        except FixReportError as exc:
            rejects.append(Rejected(it, str(exc), exc.reason, exc.seq, exc.tag))
            seq = max(seq, exc.seq or seq)
            continue
        except Exception as exc:  # a defect here must refuse the message, not stop the booking
            rejects.append(Rejected(it, f"{type(exc).__name__}: {exc}", str(exc), None, None))
            continue
        rows.append(row)
        seq = max(seq, int(row["msg_seq"]))
    return rows, rejects, seq


def serve(rx: Connection, tx: Connection) -> None:
    """The child's loop: merge what is waiting (up to max_rows), book it, acknowledge; return at EOF/stop."""
    from flows.fixdrop import store
    from flows.store.db import make_engine

    url, session_key, seq, max_rows = rx.recv()
    engine = make_engine(url)
    try:
        while True:
            try:
                msg = rx.recv()
            except EOFError:
                return
            if msg is None:
                return
            received_ns, garbled, items = msg
            while len(items) < max_rows and rx.poll(0):
                nxt = rx.recv()
                if nxt is None:
                    tx.send(_commit(engine, store, session_key, seq, received_ns, garbled, items))
                    return
                received_ns, garbled, more = nxt
                items = items + more
            reply = _commit(engine, store, session_key, seq, received_ns, garbled, items)
            tx.send(reply)
            if reply[0] == "error":
                return
            seq = reply[1]
    finally:
        engine.dispose()


def _commit(engine: Any, store: Any, session_key: str, seq: int, received_ns: int, garbled: int,
            items: list[Item]) -> tuple[Any, ...]:
    rows, rejects, last = book(items, seq, received_ns)
    try:
        store.write_batch(engine, rows, session_key, last, garbled)
    except Exception as exc:  # the store refused: nothing of the batch is committed; the parent says so
        log.exception("drop-copy batch of %d rows not stored", len(rows))
        return ("error", f"{type(exc).__name__}: {exc}")
    return ("ack", last, len(rows), len(items), rejects)


class Booker:
    """The initiator's side: `put` from the engine's callback (a list append), a thread that ships what
    accumulated every `max_wait_s`, a thread that reads the acknowledgements. Same surface as a writer:
    `committed_seq`, `stored`, `error`, `flush`, `stop`, `abandon`."""

    def __init__(self, url: str, session_key: str, *, last_seq: int = 0, garbled: int = 0, max_rows: int = 5000,
                 max_wait_s: float = 0.002, on_rejects: Callable[[list[Rejected]], None] | None = None,
                 on_ack: Callable[[int], None] | None = None) -> None:
        self.committed_seq = last_seq
        self.garbled = garbled
        self.stored = 0  # rows handed to the store (duplicates included: the store keeps one)
        self.error: str | None = None
        self.max_wait_s = max_wait_s
        self._on_rejects = on_rejects
        self._on_ack = on_ack
        self._buf: list[Item] = []
        self._ready = threading.Event()
        self._sent = 0
        self._acked = 0
        self._idle = threading.Condition()
        self._stopping = False
        p_read, c_write = os.pipe()
        c_read, p_write = os.pipe()
        # The child inherits only its two ends; it exits when the parent's ends close (EOF), killed or not.
        self._proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module, fds as arguments)
            [sys.executable, "-m", "flows.fixdrop.booker", str(c_read), str(c_write)], pass_fds=(c_read, c_write))
        os.close(c_read)
        os.close(c_write)
        self._tx = Connection(p_write, readable=False)
        self._rx = Connection(p_read, writable=False)
        self._tx.send((url, session_key, last_seq, max_rows))
        self._sender = threading.Thread(target=self._ship, name="fixdrop-ship", daemon=True)
        self._reader = threading.Thread(target=self._read, name="fixdrop-acks", daemon=True)
        self._sender.start()
        self._reader.start()

    # --- the engine's thread: as little as possible ------------------------------------------------------
    def put(self, item: Item) -> None:
        self._buf.append(item)
        if not self._ready.is_set():
            self._ready.set()

    def reset_seq(self, last: int) -> None:
        """The counterparty renumbered (SequenceReset-Reset, or a Logon with ResetSeqNumFlag): from here on
        the committed inbound number is `last`, even if lower than before (ordered with the reports)."""
        self.put(last)

    # --- threads ------------------------------------------------------------------------------------------
    def _ship(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            if not self._stopping:
                time.sleep(self.max_wait_s)  # let a batch gather: one pickle and one transaction per batch
            items, self._buf = self._buf, []
            if items:
                with self._idle:
                    self._sent += len(items)
                try:
                    self._tx.send((time.time_ns(), self.garbled, items))
                except OSError:
                    return
            if self._stopping and not self._buf:
                return

    def _read(self) -> None:
        while True:
            try:
                msg = self._rx.recv()
            except (EOFError, OSError):
                with self._idle:
                    if not self._stopping and self.error is None:
                        self.error = "the booking process ended"
                        log.error("drop-copy booking process ended unexpectedly")
                    self._idle.notify_all()
                return
            if msg[0] == "error":
                with self._idle:
                    self.error = str(msg[1])
                    self._idle.notify_all()
                log.error("drop-copy store refused a batch: %s", msg[1])
                continue
            _, seq, stored, n_items, rejects = msg
            if rejects and self._on_rejects is not None:
                try:
                    self._on_rejects(rejects)
                except Exception:
                    log.exception("drop-copy reject handling failed")
            with self._idle:
                self.committed_seq = seq
                self.stored += stored
                self._acked += n_items
                self._idle.notify_all()
            if self._on_ack is not None:
                self._on_ack(stored + len(rejects))

    # --- lifecycle ----------------------------------------------------------------------------------------
    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until everything put so far is committed."""
        self._ready.set()
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while (len(self._buf) or self._sent > self._acked) and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return self.error is None

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ship what is left, let the child commit it, and wait for it to exit."""
        self._stopping = True
        self._ready.set()
        self._sender.join(timeout=timeout_s)
        try:
            self._tx.send(None)
        except OSError:
            pass
        self._reap(timeout_s)

    def abandon(self) -> None:
        """Stop without committing what is not yet committed (what a killed process does)."""
        self._stopping = True
        self._proc.kill()
        self._ready.set()
        self._reap(10.0)

    def _reap(self, timeout_s: float) -> None:
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=timeout_s)
        self._tx.close()
        self._rx.close()


def main(argv: list[str]) -> int:
    import signal

    # Ctrl-C reaches the whole process group: the initiator stops and then tells us, after its last batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serve(Connection(int(argv[1]), writable=False), Connection(int(argv[2]), readable=False))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the initiator is gone (stopped or killed): what it did not see committed it asks for again
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Run the imported module, not __main__: what it sends back must unpickle as flows.fixdrop.booker's types.
    from flows.fixdrop import booker

    sys.exit(booker.main(sys.argv))
