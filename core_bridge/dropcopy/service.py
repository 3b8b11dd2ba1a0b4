"""The drop-copy capture service: core PUB -> CURVE SUB -> gap fill by rewind -> durable journal.

Why a service of its own: the journal is the books and records, so capture runs as one long-lived process
per host (`corectl capture` or `python -m core_bridge.dropcopy`) that owns the journal and resumes from its
durable end after any restart. The live stream and the loop are here; gap fill by rewind is
core_bridge.dropcopy.rewind.

HA (Binary Star pair): with `standby_endpoints` the SUB connects to both nodes' drop copy (only the active
node publishes).

Malformed frames are counted and dropped, never raised. The group commit is the journal's (by count or a
few ms); what is reported durable (durable.json, status file) has been fdatasync'ed.

Status: every second `<home>/run/capture.json` (write + rename) holds position, durable watermark, rates,
lag, counters, rewind health (`rewind.state` ok/backing_off/escalated, core_bridge/dropcopy/backoff.py) and
the 15c3-5 post-trade view (per-account exposure); `<home>/run/positions.json` the per-account/symbol
positions.

Run it: `corectl capture` or `python -m core_bridge.dropcopy --home DIR [--dropcopy EP --rewind EP]`;
SIGTERM/SIGINT stop it cleanly (commit, final status, exit 0).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zmq

from core_bridge.auth import configure_client
from core_bridge.dropcopy.config import CaptureConfig, CaptureStats
from core_bridge.dropcopy.rewind import GapFiller
from core_bridge.journal.reader import iter_records
from core_bridge.journal.segment import SEAL_REQUEST_FILE
from core_bridge.journal.writer import Journal
from core_bridge.positions import PositionBook
from core_bridge.protocol import DROPCOPY_TOPIC, decode_batch


class CaptureService(GapFiller):
    """One capture: a SUB for the live stream, a DEALER for rewinds, the journal and the position view."""

    def __init__(self, cfg: CaptureConfig, ctx: zmq.Context | None = None) -> None:
        super().__init__(cfg, ctx)
        self.book = PositionBook()
        self._sub: zmq.Socket | None = None
        self._started = time.monotonic()
        self._rate_mark = (time.monotonic(), 0)
        self.rate_eps = 0.0

    # --- sockets ---

    def _open_sub(self) -> zmq.Socket:
        sub = self.ctx.socket(zmq.SUB)
        configure_client(sub, self._keys, self._server_key)
        sub.linger = 0
        if self.cfg.sub_hwm:
            sub.rcvhwm = self.cfg.sub_hwm
        sub.setsockopt(zmq.SUBSCRIBE, DROPCOPY_TOPIC)
        for ep in self.cfg.endpoints_for("dropcopy"):  # HA: only the active node publishes
            sub.connect(ep)
        return sub

    # --- live stream ---

    def _on_live(self, frames: list[zmq.Frame]) -> None:
        if len(frames) != 3 or frames[0].bytes != DROPCOPY_TOPIC:
            self.stats.malformed += 1
            return
        try:
            hdr, recs = decode_batch(frames[1].bytes, frames[2].buffer)  # type: ignore[arg-type]
        except ValueError:
            self.stats.malformed += 1
            return
        assert self.journal is not None
        st = self.stats
        st.live_batches += 1
        st.live_events += hdr.count
        last = (hdr.epoch, hdr.first_seq + hdr.count - 1)
        if last > st.max_live:
            st.max_live = last
            self._core_last[hdr.epoch] = max(self._core_last.get(hdr.epoch, 0), last[1])
        if hdr.epoch > self.journal.epoch and self.journal.last_seq:
            # The core restarted (or a standby took over) with a new epoch: close the old epoch first.
            st.epoch_changes += 1
            self._catch_up(self.journal.epoch, None)
        outcome = self._append_from(recs)
        if outcome == "gap":
            st.gaps += 1
            self._catch_up(hdr.epoch, hdr.first_seq - 1)
            outcome = self._append_from(recs)
        if outcome == "dup":
            st.duplicates += hdr.count
        elif outcome == "stale":
            st.stale += hdr.count

    # --- the loop ---

    def run(self, stop: threading.Event | None = None, max_seconds: float | None = None) -> CaptureStats:
        """Capture until `stop` is set (or max_seconds pass). Resumes from the journal's durable end."""
        stop = stop or threading.Event()
        self._stopping = stop  # long catch-ups check it between rewind windows
        cfg = self.cfg
        self.journal = Journal.open(cfg.journal_dir, segment_bytes=cfg.segment_bytes,
                                    commit_records=cfg.commit_records, commit_ms=cfg.commit_ms,
                                    background_io=cfg.background_io)
        try:
            if cfg.rebuild_positions:
                self._load_positions()
            self._sub = self._open_sub()
            poller = zmq.Poller()
            poller.register(self._sub, zmq.POLLIN)
            last_live = 0.0  # resume: probe the core at once for what we missed while down
            next_status = 0.0
            t_end = time.monotonic() + max_seconds if max_seconds else None
            poll_ms = max(1, int(cfg.commit_ms))
            while not stop.is_set():
                now = time.monotonic()
                if t_end is not None and now >= t_end:
                    break
                if poller.poll(poll_ms):
                    # Drain what is queued before the next commit check: fewer syscalls per batch.
                    for _ in range(64):
                        try:
                            frames = self._sub.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._on_live(frames)
                    last_live = time.monotonic()
                    self.on_live_data()
                elif now - last_live >= self.idle_wait_s:
                    self._idle_probe()
                    last_live = time.monotonic()
                self.journal.maybe_commit()
                self._fold_durable()
                if now >= next_status:
                    self._honour_seal_request()
                    self.write_status()
                    next_status = now + cfg.status_interval_s
            self.journal.commit()
            self._fold_durable()
            self.write_status()
        finally:
            self.close()
        return self.stats

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
        for s in (self._sub, self._dealer, self._control):
            if s is not None:
                s.close(0)
        self._sub = self._dealer = self._control = None

    def _honour_seal_request(self) -> None:
        """End of day: `seal_journal()` from another process leaves seal.request; seal, then remove it."""
        assert self.journal is not None
        request = self.cfg.journal_dir / SEAL_REQUEST_FILE
        if request.exists():
            self.journal.seal()
            self._fold_durable()
            request.unlink(missing_ok=True)

    # --- post-trade view ---

    def _fold_durable(self) -> None:
        """Fold appended records into the position view once they are durable (a few ms behind the stream),
        so a checkpoint of the view never covers a record the journal could lose."""
        if not self._unfolded or self.journal is None:
            return
        durable = self.journal.durable
        ready: list[np.ndarray] = []
        while self._unfolded:
            part = self._unfolded[0]
            if (int(part["epoch"][-1]), int(part["seq"][-1])) <= durable:
                ready.append(self._unfolded.pop(0))
                continue
            if int(part["epoch"][0]) == durable[0] and int(part["seq"][0]) <= durable[1]:
                cut = durable[1] - int(part["seq"][0]) + 1
                ready.append(part[:cut])
                self._unfolded[0] = part[cut:]
            break
        if ready:
            self.book.apply_many(ready)

    def _load_positions(self) -> None:
        """Resume the view from its checkpoint (if it matches this journal) plus the records after it."""
        assert self.journal is not None
        path = self.cfg.positions_path
        if path is not None and path.exists():
            try:
                book = PositionBook.from_state(orjson.loads(path.read_bytes())["book"])
                if (0, 0) < book.as_of <= self.journal.durable:
                    self.book = book
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
                self.stats.last_error = f"position checkpoint {path} unreadable: rebuilt from the journal"
        for recs in iter_records(self.cfg.journal_dir, after=self.book.as_of if self.book.as_of > (0, 0) else None):
            self.book.apply(recs)

    # --- status ---

    def status(self) -> dict[str, Any]:
        j = self.journal
        now = time.monotonic()
        t0, n0 = self._rate_mark
        if now - t0 >= 0.5:
            self.rate_eps = (self.stats.appended - n0) / (now - t0)
            self._rate_mark = (now, self.stats.appended)
        durable = j.durable if j else (0, 0)
        head = max(self.stats.max_live, self.stats.core_last)
        lag = head[1] - durable[1] if head[0] == durable[0] else None
        return {
            "pid": os.getpid(),
            "updated_ns": time.time_ns(),
            "uptime_s": round(now - self._started, 3),
            "epoch": j.epoch if j else 0,
            "last_seq": j.last_seq if j else 0,
            "durable": {"epoch": durable[0], "seq": durable[1]},
            "rate_eps": round(self.rate_eps, 1),
            "lag_events": lag,
            "stats": asdict(self.stats),
            # Rewind health: "ok", "backing_off" or "escalated" (core_bridge/dropcopy/backoff.py).
            "rewind": {**self.backoff.to_json(now), "idle_probe_s": round(self.idle_wait_s, 3)},
            "post_trade": {"fills": self.book.fills, "accounts": self.book.accounts()},
        }

    def write_status(self) -> None:
        if self.cfg.status_path is not None:
            _write_json(self.cfg.status_path, self.status())
        if self.cfg.positions_path is not None:
            _write_json(self.cfg.positions_path, {"updated_ns": time.time_ns(), "as_of": list(self.book.as_of),
                                                  "positions": self.book.snapshot(), "book": self.book.to_state()})


def _write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(doc))
    os.replace(tmp, path)


def run_capture(cfg: CaptureConfig, *, install_signals: bool = True, max_seconds: float | None = None) -> CaptureStats:
    """Run until SIGTERM/SIGINT (or max_seconds); a clean stop commits and writes the final status."""
    stop = threading.Event()
    if install_signals:
        def _stop(_signum: int, _frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    clock = None
    if cfg.clock_log_dir is not None and cfg.telemetry_endpoint:
        from core_bridge.clocksync import ClockRecorder

        clock = ClockRecorder(cfg.clock_log_dir, cfg.endpoints_for("telemetry"), cfg.keys_dir, cfg.identity)
        clock.start()
    try:
        return CaptureService(cfg).run(stop, max_seconds=max_seconds)
    finally:
        if clock is not None:
            clock.stop()
