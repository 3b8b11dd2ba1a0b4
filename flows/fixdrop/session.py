"""The firm's side of the clearer's drop copy: a QuickFIX initiator that books every ExecutionReport once.

QuickFIX runs the session (Logon, Heartbeat/TestRequest, gap detection and ResendRequest, PossDup handling,
SequenceReset). It drops a garbled message (bad CheckSum or BodyLength) without consuming its sequence
number, as the session protocol requires, and the next message's gap brings it again by resend; the drop is
counted from the engine's event log ("Invalid message"). The engine's callback only hands each message's string
to the booking process (`booker`), which parses and commits in batches; an ExecutionReport that cannot be
booked comes back from it and is rejected whole with a session Reject (35=3) naming the tag, and kept in
`rejects.jsonl` beside the store.

Restart safety: the engine's FileStore keeps both sequence numbers; on start the expected inbound number is
wound back to the last one the ops store committed (+1), so whatever was received but not yet committed is
asked for again, and ExecID uniqueness makes the repeat harmless.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import quickfix as fix
from sqlalchemy import Engine

from flows.fixdrop import store
from flows.fixdrop.booker import Booker, Rejected
from flows.fixdrop.metrics import SessionMetrics
from hw.clearing_twin.fix_session import CLEARER_COMP_ID, FIRM_COMP_ID, SessionConfig

log = logging.getLogger("colo_ops.fixdrop")
GARBLED_EVENTS = ("Invalid message",)
# SessionRejectReason (373) values of FIX 4.4
REJECT_REQUIRED_TAG_MISSING, REJECT_VALUE_INCORRECT, REJECT_OTHER = 1, 5, 99


class _EventTail:
    """New lines of the engine's own event log (FileLog), read from where this process started: the engine
    logs a discarded garbled message there. A Python log object would instead be called for every message
    in and out, which costs a third of the session's throughput."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._pos = {p: p.stat().st_size for p in log_dir.glob("*.event.current.log")}

    def new_lines(self) -> list[str]:
        out: list[str] = []
        for p in sorted(self.log_dir.glob("*.event.current.log")):
            with p.open("rb") as fh:
                fh.seek(self._pos.get(p, 0))
                data = fh.read()
            cut = data.rfind(b"\n") + 1  # a line still being written is read next time
            self._pos[p] = self._pos.get(p, 0) + cut
            out += data[:cut].decode(errors="replace").splitlines()
        return out


class _App(fix.Application):  # type: ignore[misc]
    def __init__(self, owner: DropCopyInitiator) -> None:
        super().__init__()
        self.owner = owner

    def onCreate(self, sid: fix.SessionID) -> None:  # noqa: N802
        self.owner.on_create(sid)

    def onLogon(self, sid: fix.SessionID) -> None:  # noqa: N802
        self.owner.logged_on.set()
        self.owner.metrics.state.set(1)

    def onLogout(self, sid: fix.SessionID) -> None:  # noqa: N802
        self.owner.logged_on.clear()
        self.owner.metrics.state.set(0)

    def toAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        try:
            self.owner.on_admin_out(msg.toString())
        except Exception:  # noqa: S110 (an escaping exception would end the process)
            pass

    def fromAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        try:
            self.owner.on_admin_in(msg.toString())
        except Exception:  # noqa: S110
            pass

    def toApp(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        pass

    def fromApp(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        # The engine's thread holds the GIL here: hand the string over and return (parsing is the booker's).
        self.owner.received += 1
        self.owner.writer.put(msg.toString())


def session_reject(r: Rejected) -> fix.Message:
    """A session-level Reject (35=3) of the report at r.seq: RefTagID and a SessionRejectReason when known."""
    m = fix.Message()
    m.getHeader().setField(fix.MsgType(fix.MsgType_Reject))
    m.setField(fix.RefSeqNum(int(r.seq or 0)))
    m.setField(fix.RefMsgType("8"))
    if r.tag is not None:
        m.setField(fix.RefTagID(int(r.tag)))
    reason = (REJECT_REQUIRED_TAG_MISSING if r.reason.startswith("required tag missing")
              else REJECT_VALUE_INCORRECT if r.tag is not None else REJECT_OTHER)
    m.setField(fix.SessionRejectReason(reason))
    m.setField(fix.Text(r.reason[:200]))
    return m


def _field(raw: str, tag: str) -> str | None:
    for part in raw.split("\x01"):
        if part.startswith(tag + "="):
            return part[len(tag) + 1:]
    return None


class DropCopyInitiator:
    """Connect to the clearer at host:port and book its drop copy into `engine`; state under `base`."""

    def __init__(self, base: Path, engine: Engine, host: str, port: int, *, sender: str = FIRM_COMP_ID,
                 target: str = CLEARER_COMP_ID, heartbeat_s: int = 30, metrics: SessionMetrics | None = None,
                 max_batch: int = 5000) -> None:
        self.base = base
        self.engine = engine
        self.config = SessionConfig("initiator", sender, target, port, base / "store", base / "log",
                                    host=host, heartbeat_s=heartbeat_s)
        self.session_key = f"FIX.4.4:{sender}->{target}"
        self.metrics = metrics or SessionMetrics()
        self.logged_on = threading.Event()
        self._garbled = 0
        self._events: _EventTail | None = None
        self.rejected = 0
        self.received = 0
        self._lock = threading.Lock()
        last, garbled = store.session_state(engine, self.session_key)
        self._garbled = garbled
        self.writer = Booker(engine.url.render_as_string(hide_password=False), self.session_key, last_seq=last,
                             garbled=garbled, max_rows=max_batch, on_rejects=self.on_rejects,
                             on_ack=self.metrics.messages.inc)
        self.metrics.seq_in.set(last)
        self._initiator: fix.SocketInitiator | None = None
        self.session_id: fix.SessionID | None = None

    # --- engine callbacks -------------------------------------------------------------------------------
    def on_create(self, sid: fix.SessionID) -> None:
        self.session_id = sid
        s = fix.Session.lookupSession(sid)
        resume = self.writer.committed_seq + 1
        if resume < s.getExpectedTargetNum():
            log.warning("resuming inbound at %d (store committed %d; engine expected %d): resend requested",
                        resume, resume - 1, s.getExpectedTargetNum())
            s.setNextTargetMsgSeqNum(resume)

    @property
    def garbled(self) -> int:
        """Messages the engine discarded as garbled (bad CheckSum or BodyLength), this session's total."""
        with self._lock:
            if self._events is not None:
                n = sum(1 for line in self._events.new_lines() if any(k in line for k in GARBLED_EVENTS))
                if n:
                    self._garbled += n
                    self.writer.garbled = self._garbled
                    self.metrics.garbled.inc(n)
            return self._garbled

    def on_admin_out(self, raw: str) -> None:
        seq = _field(raw, "34")
        if seq is not None:
            self.metrics.seq_out.set(int(seq))
        if "\x0135=2\x01" in raw:
            self.metrics.resends.inc()

    def on_admin_in(self, raw: str) -> None:
        mtype = _field(raw, "35")
        if mtype == "4" and _field(raw, "123") != "Y":  # SequenceReset-Reset: the counterparty renumbered
            new = _field(raw, "36")
            if new is not None:
                self.writer.reset_seq(int(new) - 1)
        elif mtype == "A" and _field(raw, "141") == "Y":  # both sides start again at 1
            self.writer.reset_seq(0)

    def on_rejects(self, rejects: list[Rejected]) -> None:
        """Reports the booker refused: each is kept in rejects.jsonl and rejected on the session (35=3)."""
        now = time.time_ns()
        self._append("rejects.jsonl", "".join(
            json.dumps({"received_ns": now, "error": r.error, "tag": r.tag, "seq": r.seq,
                        "message": r.raw.replace("\x01", "|")}) + "\n" for r in rejects))
        for r in rejects:
            self.rejected += 1
            self.metrics.rejected.inc()
            log.error("ExecutionReport rejected: %s", r.error)
            if r.seq is not None and self.session_id is not None:
                fix.Session.sendToTarget(session_reject(r), self.session_id)

    def _append(self, name: str, text: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        with (self.base / name).open("a") as fh:
            fh.write(text)

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> DropCopyInitiator:
        cfg = self.config.write(self.base / "initiator.cfg")
        # The engine keeps references to these, not ownership: they must live as long as the initiator.
        self._settings = settings = fix.SessionSettings(str(cfg))
        self._app = _App(self)
        self._store = fix.FileStoreFactory(settings)
        self._logs = fix.FileLogFactory(settings)
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        self._events = _EventTail(self.config.log_dir)
        # The threaded engine (a thread per connection): QuickFIX 1.16's single-threaded socket engine
        # iterates its socket map in stop() while its own thread still polls it (a crash on restart).
        self._initiator = fix.ThreadedSocketInitiator(self._app, self._store, settings, self._logs)
        self._initiator.start()
        return self

    def committed(self) -> int:
        self.garbled  # noqa: B018 (reading it brings the count and the metric up to date)
        self.metrics.seq_in.set(self.writer.committed_seq)
        return self.writer.committed_seq

    def stop(self, flush_s: float = 30.0, *, commit: bool = True) -> None:
        """Log out, then commit what was received. `commit=False` discards what is not yet committed, as a
        killed process would: the next start asks for it again."""
        if self._initiator is not None:
            self._initiator.stop()
            self._initiator = None
        if commit:
            self.writer.flush(flush_s)
            self.writer.stop()
        else:
            self.writer.abandon()
        self.logged_on.clear()
        self.metrics.state.set(0)
