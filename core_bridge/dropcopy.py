"""The drop-copy capture service: core PUB -> CURVE SUB -> gap fill by rewind -> durable journal.

Why it looks like this (design principle 1): the core never waits for us. It publishes its sequenced drop
copy and keeps it for rewind; we subscribe, and whatever we miss (slow consumer, tiny high-water mark,
our own crash, a core restart) we ask for again on the rewind endpoint, then append in sequence order.

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

HA (Binary Star pair): with `standby_endpoints` the SUB connects to both nodes' drop copy (only the active
node publishes), and a rewind or `hello` that gets no answer moves to the other node (the passive holds the
replicated stream, so either can serve rewind); a takeover continues the same epoch at the next seq, so
the journal just goes on.

Malformed frames are counted and dropped, never raised. The group commit is the journal's (by count or a
few ms); what is reported durable (durable.json, status file) has been fdatasync'ed.

Status: every second `<home>/run/capture.json` (write + rename) holds position, durable watermark, rates,
lag, counters and the 15c3-5 post-trade view (per-account exposure); `<home>/run/positions.json` the
per-account/symbol positions.

Run it: `corectl capture` or `python -m core_bridge.dropcopy --home DIR [--dropcopy EP --rewind EP]`;
SIGTERM/SIGINT stop it cleanly (commit, final status, exit 0).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zmq

from core_bridge.auth import client_keypair, configure_client, server_public
from core_bridge.journal import (
    DEFAULT_COMMIT_MS,
    DEFAULT_COMMIT_RECORDS,
    DEFAULT_SEGMENT_BYTES,
    SEAL_REQUEST_FILE,
    Journal,
    iter_records,
)
from core_bridge.positions import PositionBook
from core_bridge.protocol import DROPCOPY_TOPIC, MAX_REWIND_SPAN, PROTOCOL_VERSION, decode_batch

# Records asked for per rewind request: a bounded reply (32 chunks of 8192) that never overruns the
# DEALER's receive queue (a ROUTER drops what does not fit), and a bounded pause of the live stream.
REWIND_WINDOW = 262_144


@dataclass
class CaptureConfig:
    journal_dir: Path
    keys_dir: Path
    dropcopy_endpoint: str
    rewind_endpoint: str
    control_endpoint: str | None = None  # for `hello` (the core's current epoch) when the stream is quiet
    identity: str = "capture"
    status_path: Path | None = None
    positions_path: Path | None = None
    sub_hwm: int = 0  # messages; 0 = libzmq default (1000). Tests set it tiny to force drops.
    rewind_timeout_ms: int = 2_000
    idle_probe_ms: int = 300
    status_interval_s: float = 1.0
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    commit_records: int = DEFAULT_COMMIT_RECORDS
    commit_ms: float = DEFAULT_COMMIT_MS
    background_io: bool = True  # overlap the group commit's fdatasync with receiving the next batches
    rebuild_positions: bool = True  # fold the journal's fills into the view at start
    # The other node of an HA pair: {"dropcopy", "rewind", "control"} endpoints (empty: a single core).
    standby_endpoints: dict[str, str] = field(default_factory=dict)

    def endpoints_for(self, socket: str) -> list[str]:
        """This socket's endpoints, primary first, then the standby's (if configured)."""
        main = {"dropcopy": self.dropcopy_endpoint, "rewind": self.rewind_endpoint,
                "control": self.control_endpoint}[socket]
        out = [main] if main else []
        alt = self.standby_endpoints.get(socket)
        return out + ([alt] if alt and alt not in out else [])

    @classmethod
    def from_home(cls, home: str | Path | None = None, node: str = "primary", **overrides: Any) -> CaptureConfig:
        """Endpoints by the same precedence as corectl: an explicit setting (COLO_OPS_CORE_<NODE>_<SOCKET>),
        then a locally started twin's <home>/run/twin-<node>.json, then the default ports."""
        from core_bridge.settings import load_settings

        s = load_settings(home)
        try:
            local = orjson.loads((s.run_dir / f"twin-{node}.json").read_bytes()).get("endpoints") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            local = {}

        def endpoint(socket: str) -> str:
            explicit = s.get(f"core.{node}.{socket}")
            return str(explicit or local.get(socket) or s.core_endpoint(socket, node))

        try:
            standby_local = orjson.loads((s.run_dir / "twin-standby.json").read_bytes()).get("endpoints") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            standby_local = {}
        standby: dict[str, str] = {}
        if node == "primary":
            for sock_name in ("dropcopy", "rewind", "control"):
                ep = s.get(f"core.standby.{sock_name}") or standby_local.get(sock_name)
                if ep:
                    standby[sock_name] = str(ep)
        cfg = cls(
            journal_dir=s.journal_dir,
            keys_dir=s.keys_dir,
            dropcopy_endpoint=endpoint("dropcopy"),
            rewind_endpoint=endpoint("rewind"),
            control_endpoint=endpoint("control"),
            status_path=s.run_dir / "capture.json",
            positions_path=s.run_dir / "positions.json",
            standby_endpoints=standby,
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


@dataclass
class CaptureStats:
    live_batches: int = 0
    live_events: int = 0
    appended: int = 0
    duplicates: int = 0
    stale: int = 0
    malformed: int = 0
    gaps: int = 0
    rewinds: int = 0
    rewound_events: int = 0
    rewind_failures: int = 0
    epoch_changes: int = 0
    unrecoverable: int = 0  # records the core could no longer rewind (e.g. an old epoch it forgot)
    max_live: tuple[int, int] = (0, 0)  # highest (epoch, seq) seen live
    core_last: tuple[int, int] = (0, 0)  # highest (epoch, last_seq) the rewind endpoint reported
    last_error: str = ""


class CaptureService:
    """One capture: a SUB for the live stream, a DEALER for rewinds, the journal and the position view."""

    def __init__(self, cfg: CaptureConfig, ctx: zmq.Context | None = None) -> None:
        self.cfg = cfg
        self.ctx = ctx or zmq.Context.instance()
        self.stats = CaptureStats()
        self.book = PositionBook()
        self._stopping = threading.Event()
        self._unfolded: list[np.ndarray] = []  # appended, not yet durable, so not yet in the position view
        self.journal: Journal | None = None
        self._keys = client_keypair(cfg.keys_dir, cfg.identity)
        self._server_key = server_public(cfg.keys_dir)
        self._sub: zmq.Socket | None = None
        self._dealer: zmq.Socket | None = None
        self._control: zmq.Socket | None = None
        self._hello_n = 0
        self._hello_backoff_until = 0.0
        self._started = time.monotonic()
        self._rate_mark = (time.monotonic(), 0)
        self._core_last: dict[int, int] = {}  # epoch -> the core's last seq, as rewind end frames told us
        self._rewind_ix = 0  # which node's rewind endpoint (HA: moves on a timeout)
        self._control_ix = 0
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
                if code != "OK":
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
        serve it (the caller tries again on the next batch or idle probe)."""
        target = upto
        while not self._stopping.is_set():
            nxt = self._next_seq(epoch)
            if target is not None and nxt > target:
                return True
            # Up to the end we know of; without one, ask for a single record to learn where the end is.
            end = target if target is not None else max(nxt, self._core_last.get(epoch, 0))
            code, core_last = self._rewind(epoch, nxt, min(end, nxt + REWIND_WINDOW - 1))
            if core_last is None:
                return False
            if target is None and code in ("OK", "REWIND_OUT_OF_RANGE"):
                target = core_last
            progressed = self._next_seq(epoch) > nxt
            if code == "OK" and progressed:
                continue
            if code == "REWIND_OUT_OF_RANGE" and core_last < nxt:
                if upto is None:
                    return True  # at the core's end
                self.stats.unrecoverable += 1  # a gap the core cannot fill (its journal lost it)
                return False
            if code == "REWIND_OUT_OF_RANGE" and not progressed:
                continue  # asked beyond the end; now we know the end (core_last >= nxt)
            if code == "REWIND_EPOCH_UNKNOWN":
                if upto is not None:
                    self.stats.unrecoverable += 1
                return upto is None  # an old epoch the core no longer keeps: nothing more to fetch
            if not progressed:
                return False  # busy ("too many rewinds") or a refusal: retry later
        return False  # asked to stop: the rest is fetched after the restart

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
        core restart into a new epoch that has published nothing since)."""
        assert self.journal is not None
        epoch = self._core_epoch()
        if epoch is not None and epoch > self.journal.epoch:
            if self.journal.last_seq:
                self.stats.epoch_changes += 1
                self._catch_up(self.journal.epoch, None)
            self._catch_up(epoch, None)
        elif self.journal.epoch:
            self._catch_up(self.journal.epoch, None)

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
                elif now - last_live >= cfg.idle_probe_ms / 1000:
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
    return CaptureService(cfg).run(stop, max_seconds=max_seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core_bridge.dropcopy", description="drop-copy capture service")
    ap.add_argument("--home", help="COLO_OPS_HOME (default: settings)")
    ap.add_argument("--node", default="primary", help="core node whose endpoints to use (primary|standby)")
    ap.add_argument("--dropcopy", help="drop-copy PUB endpoint (default: settings)")
    ap.add_argument("--rewind", help="rewind ROUTER endpoint (default: settings)")
    ap.add_argument("--control", help="control endpoint, for hello when the stream is quiet (default: settings; "
                    "'none' disables)")
    ap.add_argument("--keys", type=Path, help="keys directory (default: <home>/keys)")
    ap.add_argument("--journal", type=Path, help="journal directory (default: <home>/journal)")
    ap.add_argument("--identity", default="capture")
    ap.add_argument("--sub-hwm", type=int, default=0)
    ap.add_argument("--segment-mb", type=float, default=None)
    ap.add_argument("--max-seconds", type=float, default=None)
    a = ap.parse_args(argv)
    cfg = CaptureConfig.from_home(
        a.home, a.node, dropcopy_endpoint=a.dropcopy, rewind_endpoint=a.rewind, control_endpoint=a.control,
        keys_dir=a.keys,
        journal_dir=a.journal, identity=a.identity, sub_hwm=a.sub_hwm or None,
        segment_bytes=int(a.segment_mb * 1024 * 1024) if a.segment_mb else None,
    )
    if a.control == "none":
        cfg.control_endpoint = None
    run_capture(cfg, max_seconds=a.max_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
