"""The clearer's FIX 4.4 drop-copy acceptor: QuickFIX does the session (Logon/Logout, Heartbeat/TestRequest,
ResendRequest answered from the FileStore with PossDupFlag 43=Y, SequenceReset-GapFill for admin messages);
this module replays the day's fault plan as ExecutionReports.

Restart safety: the plan is deterministic and each report is one application message in the FileStore, so
after a restart the count of 35=8 messages already stored is exactly where the replay resumes — nothing is
sent twice as new, nothing is skipped (the initiator recovers anything in flight with a ResendRequest).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from pathlib import Path

import quickfix as fix

from hw.clearing_twin.fault_plan import FaultPlan
from hw.clearing_twin.fix_session import CLEARER_COMP_ID, FIRM_COMP_ID, SessionConfig, free_port, report_message

log = logging.getLogger("colo_ops.clearing_twin.fix")


class _App(fix.Application):  # type: ignore[misc]
    def __init__(self, owner: DropCopyAcceptor) -> None:
        super().__init__()
        self.owner = owner

    def onCreate(self, sid: fix.SessionID) -> None:  # noqa: N802 (QuickFIX's callback names)
        self.owner.session_id = sid

    def onLogon(self, sid: fix.SessionID) -> None:  # noqa: N802
        self.owner.logged_on.set()

    def onLogout(self, sid: fix.SessionID) -> None:  # noqa: N802
        self.owner.logged_on.clear()

    def toAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        pass

    def fromAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        raw = msg.toString()
        if "\x0135=3\x01" in raw:  # the firm refused a report: a clearer would look into it, the twin keeps it
            self.owner.session_rejects.append(raw)

    def toApp(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        pass

    def fromApp(self, msg: fix.Message, sid: fix.SessionID) -> None:  # noqa: N802
        pass  # a drop copy is one-way: the firm sends nothing but session messages


def sent_reports(store_dir: Path) -> int:
    """ExecutionReports the FileStore holds for today's session: where a restarted replay resumes."""
    return sum(p.read_bytes().count(b"\x0135=8\x01") for p in store_dir.glob("*.body"))


class DropCopyAcceptor:
    """Serve the plan's reports to the firm's initiator on 127.0.0.1:`port`, state under `base`."""

    def __init__(self, base: Path, plan: FaultPlan, trade_date: dt.date, *, port: int | None = None,
                 wallclock: bool = False, heartbeat_s: int = 30) -> None:
        self.base = base
        self.plan = plan
        self.trade_date = trade_date
        self.port = port or free_port()
        self.wallclock = wallclock
        self.config = SessionConfig("acceptor", CLEARER_COMP_ID, FIRM_COMP_ID, self.port, base / "store",
                                    base / "log", heartbeat_s=heartbeat_s)
        self.session_id: fix.SessionID | None = None
        self.logged_on = threading.Event()
        self.sent = 0
        self.session_rejects: list[str] = []  # session Rejects (35=3) received from the firm, as sent
        self.release: int | None = None  # send no further than this many reports (None: the whole plan)
        self.done = threading.Event()
        self._stop = threading.Event()
        self._commands: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._acceptor: fix.SocketAcceptor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DropCopyAcceptor:
        cfg = self.config.write(self.base / "acceptor.cfg")
        self.sent = sent_reports(self.config.store_dir)
        # The engine keeps references to these, not ownership: they must live as long as the acceptor.
        self._settings = settings = fix.SessionSettings(str(cfg))
        self._app = _App(self)
        self._store = fix.FileStoreFactory(settings)
        self._logs = fix.FileLogFactory(settings)
        # The threaded engine (a thread per connection): QuickFIX 1.16's single-threaded socket engine
        # iterates its socket map in stop() while its own thread still polls it (a crash on restart).
        self._acceptor = fix.ThreadedSocketAcceptor(self._app, self._store, settings, self._logs)
        self._acceptor.start()
        self._thread = threading.Thread(target=self._replay, name="dropcopy-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._acceptor is not None:
            self._acceptor.stop()
            self._acceptor = None

    def release_to(self, n: int | None) -> None:
        """Hold the replay at `n` reports sent (an operator pausing the feed); None releases the rest."""
        self.release = n

    def sequence_reset(self, jump: int) -> None:
        """Send SequenceReset-Reset (35=4, 123=N) moving our outgoing numbers `jump` ahead (disaster recovery)."""
        self._commands.put(("reset", jump))

    def _session(self) -> fix.Session:
        return fix.Session.lookupSession(self.session_id)

    def _do_commands(self) -> None:
        while True:
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd == "reset":
                s = self._session()
                new_seq = s.getExpectedSenderNum() + arg
                msg = fix.Message()
                msg.getHeader().setField(35, "4")
                msg.setField(123, "N")
                msg.setField(36, str(new_seq))
                fix.Session.sendToTarget(msg, self.session_id)
                s.setNextSenderMsgSeqNum(new_seq)

    def _replay(self) -> None:
        reports = self.plan.reports
        while not self._stop.is_set() and self.sent < len(reports):
            if not self.logged_on.wait(0.1):
                continue
            self._do_commands()
            if self.release is not None and self.sent >= self.release:
                self._stop.wait(0.01)
                continue
            r = reports[self.sent]
            if self.wallclock:
                wait_s = (r.release_ns - time.time_ns()) / 1e9
                if wait_s > 0:
                    self._stop.wait(min(wait_s, 0.5))
                    continue
            # PossResend(97)=Y on a duplicate: the same report again, under a new MsgSeqNum.
            msg = fix.Message(report_message(r, self.trade_date), False)
            if not fix.Session.sendToTarget(msg, self.session_id):
                continue
            self.sent += 1
        while not self._stop.is_set():  # keep answering commands (a reset after the day's last report)
            self._do_commands()
            if self.sent >= len(reports):
                self.done.set()
            self._stop.wait(0.05)
