"""Gap detection and fill: put the journal in sequence order, asking the core's rewind endpoint for what
the live stream did not deliver.

Why (design principle 1): the core never waits for us. It publishes its sequenced drop copy and keeps it
for rewind; whatever we miss (slow consumer, tiny high-water mark, our own crash, a core restart) we ask for
again, then append in sequence order:

    live batch of epoch E, seqs F..L   journal at (E, N)
      L <= N                           duplicate: dropped (counted)
      F <= N + 1                       append the part after N
      F >  N + 1                       gap: rewind E N+1..F-1 (windows of REWIND_WINDOW), then append
      E >  journal epoch               core restarted: rewind the old epoch's tail (if the core still has it),
                                       then the new epoch from seq 1
      E <  journal epoch               stale (an old publisher): dropped (counted)
    no live data for idle_probe_ms     `hello` on the control socket for the core's epoch (a quiet restart),
                                       then rewind from N+1 to the core's end (catches a lost tail; also the
                                       catch-up after our own restart, which resumes from the journal)

The core's end is learnt by asking for N..N (a record it has published), never N+1..N+1: at the end of a
session that seq does not exist yet, and asking for it once per idle probe was one REWIND_OUT_OF_RANGE every
300 ms for as long as the stream stayed quiet. A REWIND_OUT_OF_RANGE whose last_seq is below the request is
the core's end, not a gap. Probes that find nothing new back off (idle_probe_ms doubling to
idle_probe_max_ms); failed fills back off and escalate (backoff.py).

HA (Binary Star pair): a rewind or `hello` that gets no answer moves to the other node (the passive holds
the replicated stream, so either can serve rewind); a takeover continues the same epoch at the next seq.
`GapFiller` holds the rewind/control sockets and the journal position; `CaptureService` (service.py) adds
the live stream, the loop and the status on top.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import orjson
import zmq

from core_bridge.auth import client_keypair, configure_client, server_public
from core_bridge.dropcopy.backoff import RewindBackoff
from core_bridge.dropcopy.config import CaptureConfig, CaptureStats
from core_bridge.journal.writer import Journal
from core_bridge.protocol import MAX_REWIND_SPAN, PROTOCOL_VERSION, decode_batch

# Records asked for per rewind request: a bounded reply (32 chunks of 8192) that never overruns the
# DEALER's receive queue (a ROUTER drops what does not fit), and a bounded pause of the live stream.
REWIND_WINDOW = 262_144
DONE, FAILED, STOPPED = "done", "failed", "stopped"


class GapFiller:
    """The journal's position and the rewind side of one capture: appends in sequence, fills gaps."""

    def __init__(self, cfg: CaptureConfig, ctx: zmq.Context | None = None) -> None:
        self.cfg = cfg
        self.ctx = ctx or zmq.Context.instance()
        self.stats = CaptureStats()
        self._stopping = threading.Event()
        self._unfolded: list[np.ndarray] = []  # appended, not yet durable, so not yet in the position view
        self.journal: Journal | None = None
        self._keys = client_keypair(cfg.keys_dir, cfg.identity)
        self._server_key = server_public(cfg.keys_dir)
        self._dealer: zmq.Socket | None = None
        self._control: zmq.Socket | None = None
        self._hello_n = 0
        self._hello_backoff_until = 0.0
        self._core_last: dict[int, int] = {}  # epoch -> the core's last seq, as rewind end frames told us
        self._rewind_ix = 0  # which node's rewind endpoint (HA: moves on a timeout)
        self._control_ix = 0
        self.backoff = RewindBackoff(cfg.rewind_backoff_ms / 1000, cfg.rewind_backoff_max_ms / 1000,
                                     cfg.rewind_escalate_after)
        self.idle_wait_s = cfg.idle_probe_ms / 1000  # grows while idle probes find nothing new

    def _open_dealer(self) -> zmq.Socket:
        d = self.ctx.socket(zmq.DEALER)
        configure_client(d, self._keys, self._server_key)
        d.linger = 0
        d.rcvhwm = 10_000
        eps = self.cfg.endpoints_for("rewind")
        d.connect(eps[self._rewind_ix % len(eps)])
        return d

    # --- journal position ---

    def _next_seq(self, epoch: int) -> int:
        assert self.journal is not None
        return self.journal.last_seq + 1 if self.journal.epoch == epoch else 1

    def _append_from(self, recs: np.ndarray) -> str:
        """Append the part of a contiguous run that follows the journal. Returns "ok", "dup", "stale" or "gap"."""
        assert self.journal is not None
        epoch, first = int(recs["epoch"][0]), int(recs["seq"][0])
        if epoch < self.journal.epoch:
            return "stale"
        nxt = self._next_seq(epoch)
        last = first + len(recs) - 1
        if last < nxt:
            return "dup"
        if first > nxt:
            return "gap"
        part = recs[nxt - first :]
        self.journal.append(part)
        self._unfolded.append(part)
        self.stats.appended += len(part)
        return "ok"

    # --- rewind ---

    def _rewind(self, epoch: int, from_seq: int, to_seq: int) -> tuple[str, int | None]:
        """Ask for epoch/from..to and append what comes back.

        Returns (code, core's last_seq): code is the end frame's ReasonCode name ("OK", "REWIND_OUT_OF_RANGE",
        ...) or "TIMEOUT" (then last_seq is None). The core refuses a range beyond its end with
        REWIND_OUT_OF_RANGE and tells its last_seq, which the caller uses to ask again."""
        if self._dealer is None:
            self._dealer = self._open_dealer()
        to_seq = min(to_seq, from_seq + MAX_REWIND_SPAN - 1)
        req = {"v": PROTOCOL_VERSION, "epoch": epoch, "from_seq": from_seq, "to_seq": to_seq}
        self._dealer.send(orjson.dumps(req))
        self.stats.rewinds += 1
        assert self.journal is not None
        while True:
            if not self._dealer.poll(self.cfg.rewind_timeout_ms):
                # No end frame: drop the socket so a late reply cannot be mistaken for the next one.
                self.stats.rewind_failures += 1
                self.stats.last_error = (f"rewind {epoch}/{from_seq}..{to_seq}: no reply in "
                                         f"{self.cfg.rewind_timeout_ms} ms")
                self._dealer.close(0)
                self._dealer = None
                self._rewind_ix += 1  # HA: the other node (a no-op without a standby)
                return "TIMEOUT", None
            parts = self._dealer.recv_multipart(copy=True)
            if len(parts) > 1 and parts[0] == b"":
                parts = parts[1:]  # tolerate a REQ-style empty delimiter
            if len(parts) == 1:
                try:
                    end = orjson.loads(parts[0])
                    core_last = int(end.get("last_seq", 0))
                    code = str(end.get("code", "OK"))
                    end_epoch = int(end.get("epoch", epoch))
                except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                    self.stats.malformed += 1
                    continue
                if end_epoch != epoch:
                    self.stats.malformed += 1
                    continue
                if code == "OK" or code == "REWIND_OUT_OF_RANGE":
                    self._core_last[epoch] = max(self._core_last.get(epoch, 0), core_last)
                    self.stats.core_last = max(self.stats.core_last, (epoch, core_last))
                if code != "OK" and not (code == "REWIND_OUT_OF_RANGE" and core_last < from_seq):
                    # (beyond the core's end is an answer, not an error: the caller decides what it means)
                    self.stats.last_error = f"rewind {epoch}/{from_seq}..{to_seq}: {code}"
                return code, core_last
            if len(parts) != 2:
                self.stats.malformed += 1
                continue
            try:
                _hdr, recs = decode_batch(parts[0], parts[1])
            except ValueError:
                self.stats.malformed += 1
                continue
            if int(recs["epoch"][0]) != epoch:
                self.stats.malformed += 1
                continue
            n_before = self.stats.appended
            self._append_from(recs)
            self.stats.rewound_events += self.stats.appended - n_before
            self.journal.maybe_commit()

    def _catch_up(self, epoch: int, upto: int | None) -> bool:
        """Rewind `epoch` from the journal's next seq up to `upto` (None: to the core's end as the first reply
        states it — one pass, not a chase: while the core keeps streaming, the live feed is cheaper), a
        window at a time. True when nothing is left to fetch; False when the core did not answer or cannot
        serve it, or while an earlier failure's backoff runs (the caller tries again on the next batch or
        idle probe, and the backoff decides whether that asks the core again)."""
        if not self.backoff.ready():
            return False
        outcome = self._fill(epoch, upto)
        if outcome == DONE:
            self.backoff.succeeded()
        elif outcome == FAILED:
            self.backoff.failed(self.stats.last_error)
        return outcome == DONE

    def _fill(self, epoch: int, upto: int | None) -> str:
        """One catch-up attempt: DONE, FAILED (count it, back off) or STOPPED (asked to stop)."""
        target = upto
        refused_at = 0
        while not self._stopping.is_set():
            nxt = self._next_seq(epoch)
            if target is not None and nxt > target:
                return DONE
            known = self._core_last.get(epoch, 0)
            probe_end = target is None and known < nxt and nxt > 1
            if probe_end:
                # The end is unknown or at our journal's: ask for the record we hold last, which the core
                # has published, so its answer tells the end without asking for a seq it has not produced.
                lo = hi = nxt - 1
            else:
                # Up to the end we know of (never beyond it: the core refuses the whole range then).
                end = target if target is not None else max(nxt, known)
                if nxt <= known < end:
                    end = known
                lo, hi = nxt, min(end, nxt + REWIND_WINDOW - 1)
            code, core_last = self._rewind(epoch, lo, hi)
            if core_last is None:
                return FAILED
            if target is None and code in ("OK", "REWIND_OUT_OF_RANGE"):
                target = core_last
            progressed = self._next_seq(epoch) > nxt
            if code == "OK" and (progressed or probe_end):
                continue
            if code == "REWIND_OUT_OF_RANGE" and core_last < lo:
                if upto is None:
                    return DONE  # the core has not published it yet: its end, not a gap
                # A gap up to a seq seen live that this node does not hold (HA: a passive behind, or a
                # core that lost its journal): retried with backoff, escalated if it persists.
                self.stats.unrecoverable += 1
                self.stats.last_error = (f"rewind {epoch}/{lo}..{hi}: REWIND_OUT_OF_RANGE "
                                         f"(core holds 1..{core_last}, gap up to {upto})")
                return FAILED
            if code == "REWIND_OUT_OF_RANGE" and not progressed and refused_at != nxt:
                refused_at = nxt  # asked beyond the end; now we know the end (core_last >= nxt): once more
                continue
            if code == "REWIND_EPOCH_UNKNOWN":
                if upto is None:
                    return DONE  # an old epoch the core no longer keeps: nothing more to fetch
                self.stats.unrecoverable += 1
                return FAILED
            if not progressed:  # busy ("too many rewinds"), a refusal, or a reply that lost its records
                if code == "OK":
                    self.stats.last_error = f"rewind {epoch}/{lo}..{hi}: OK without the records"
                return FAILED
        return STOPPED  # asked to stop: the rest is fetched after the restart

    def _core_epoch(self) -> int | None:
        """The core's current epoch from `hello` on the control socket (None if not configured/no answer)."""
        if not self.cfg.control_endpoint or time.monotonic() < self._hello_backoff_until:
            return None
        from core_bridge.protocol import Command, Reply, Request

        if self._control is None:
            self._control = self.ctx.socket(zmq.DEALER)
            configure_client(self._control, self._keys, self._server_key)
            self._control.linger = 0
            eps = self.cfg.endpoints_for("control")
            self._control.connect(eps[self._control_ix % len(eps)])
        self._hello_n += 1
        rid = f"capture-{os.getpid()}-{self._hello_n}"
        timeout_s = min(self.cfg.rewind_timeout_ms, 500) / 1000  # short: the loop waits on it
        req = Request(Command.HELLO, rid, self.cfg.identity, "capture: current epoch",
                      time.time_ns() + int(timeout_s * 1e9))
        self._control.send(req.encode())
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0 and self._control.poll(int(left * 1000) + 1):
            try:
                rep = Reply.decode(self._control.recv())
            except (ValueError, KeyError, TypeError):
                self.stats.malformed += 1
                continue
            if rep.id == rid:
                if self._rewind_ix != self._control_ix:  # HA: rewind from the node that answers
                    self._rewind_ix = self._control_ix
                    if self._dealer is not None:
                        self._dealer.close(0)
                        self._dealer = None
                epoch = rep.result.get("epoch") if rep.ok else None
                return int(epoch) if isinstance(epoch, int) else None
        self._control.close(0)  # no answer: a fresh socket next time, so a late reply cannot confuse us
        self._control = None
        if len(self.cfg.endpoints_for("control")) > 1:
            self._control_ix += 1  # HA: ask the other node next time, without backing off
            self._rewind_ix = self._control_ix
            if self._dealer is not None:
                self._dealer.close(0)
                self._dealer = None
        else:
            self._hello_backoff_until = time.monotonic() + 5.0
        return None

    def _idle_probe(self) -> None:
        """Nothing live for a while: fetch what we may have missed (a lost tail, our own downtime, or a
        core restart into a new epoch that has published nothing since). A probe that finds nothing new
        doubles the wait before the next one (bounded): a quiet core is asked less and less often."""
        assert self.journal is not None
        before = (self.journal.epoch, self.journal.last_seq)
        epoch = self._core_epoch()
        if epoch is not None and epoch > self.journal.epoch:
            if self.journal.last_seq:
                self.stats.epoch_changes += 1
                self._catch_up(self.journal.epoch, None)
            self._catch_up(epoch, None)
        elif self.journal.epoch:
            self._catch_up(self.journal.epoch, None)
        if (self.journal.epoch, self.journal.last_seq) != before:
            self.idle_wait_s = self.cfg.idle_probe_ms / 1000
        else:
            self.idle_wait_s = min(self.idle_wait_s * 2, max(self.cfg.idle_probe_ms, self.cfg.idle_probe_max_ms) / 1000)

    def on_live_data(self) -> None:
        """Live data arrived: the next quiet period is probed after idle_probe_ms again."""
        self.idle_wait_s = self.cfg.idle_probe_ms / 1000
