"""TwinCore's persistence wiring: what a twin node keeps on disk besides the event journal's contents.

At start, the control state is recovered (statestore.load_state; unreadable -> `unknown_state`, HALTED, the
bad file kept aside; readable but without a clean-shutdown marker -> restored, firm HALTED) and moved to a
new epoch past every one the journal holds, so a restart never reuses a published seq; after every applied
mutating command the engine calls `_persist`, which hands the state to the group commit (groupcommit.py);
a clean stop flushes everything, snapshots and writes the clean-shutdown marker last (`_close_state`).
The endpoint file (<home>/run/twin-<node>.json) tells launchers and corectl where this node listens.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

from core_bridge.protocol import KillLevel
from hw.errors import TwinStateError
from hw.twin.engine import CoreEngine
from hw.twin.eventlog import EventLog
from hw.twin.groupcommit import TEST_DELAY_ENV, GroupCommit
from hw.twin.state import TwinState, unknown_state
from hw.twin.statestore import STATE_FILE, load_state, mark_clean, save_state, take_clean_mark

log = logging.getLogger("hw.twin")


def endpoint_file(home: Path, node: str) -> Path:
    """Where a running twin writes its endpoints and pid: <home>/run/twin-<node>.json."""
    return home / "run" / f"twin-{node}.json"


def read_endpoint_file(home: Path, node: str = "primary") -> dict[str, Any] | None:
    """The running twin's {node, pid, endpoints{control,telemetry,dropcopy,rewind}, keys_dir, state_dir, ...}."""
    try:
        obj = orjson.loads(endpoint_file(home, node).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


class PersistenceWiring:
    """Mixin of `server.TwinCore` (which initialises these fields)."""

    home: Path
    node: str
    endpoints: dict[str, str]
    keys_dir: Path
    state_dir: Path
    peer_endpoint: str | None
    instance: str
    engine: CoreEngine
    eventlog: EventLog
    commit: GroupCommit
    start_kind: str  # how this start found the state: "clean", "unclean" or "unknown" (status `start`)
    _persist_deferred: bool  # set by sockets._serve_control while it applies a control request
    _persist_due: bool

    def _recover_state(self) -> TwinState:
        """The persisted state (or unknown: HALTED), in a new epoch, saved; the journal opens that epoch.

        The start rule of protocol v2 (docs/protocol.md §3.8): after a clean stop (its marker names the state
        version the state files hold) the persisted state is restored as it is; after any other stop the state
        is restored but the firm comes up HALTED with `state_unknown` (a tightening acked but not yet durable
        may be missing from it), one state version later. The marker is removed before anything is served."""
        self.eventlog = EventLog(self.state_dir / "events")
        mark = take_clean_mark(self.state_dir)
        try:
            state = load_state(self.state_dir)
        except TwinStateError as exc:
            log.error("state unknown, coming up HALTED: %s", exc)
            bad = self.state_dir / STATE_FILE
            if bad.exists():
                os.replace(bad, self.state_dir / f"{STATE_FILE}.corrupt-{time.time_ns()}")
            state = unknown_state()
            self.start_kind = "unknown"
        else:
            if mark is not None and mark.get("state_version") == state.state_version:
                self.start_kind = "clean"
            else:
                log.error("no clean-shutdown marker for state version %d: unclean stop, coming up HALTED "
                          "(state kept, kill state flagged unknown)", state.state_version)
                self.start_kind = "unclean"
                state.kill_firm = KillLevel.HALTED
                state.state_unknown = True
                state.state_version += 1
        state.epoch = max([state.epoch, *self.eventlog.epochs()]) + 1
        save_state(self.state_dir, state)
        self.eventlog.open_epoch(state.epoch)
        self.commit = GroupCommit(self.state_dir, state.state_version, delay_s=_test_commit_delay_s())
        return state

    def _write_endpoint_file(self) -> None:
        path = endpoint_file(self.home, self.node)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({
            "node": self.node, "pid": os.getpid(), "endpoints": self.endpoints, "keys_dir": str(self.keys_dir),
            "state_dir": str(self.state_dir), "epoch": self.engine.epoch, "started_ns": self.engine.started_ns,
            "peer": self.peer_endpoint, "instance": self.instance,
        }, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)

    def _persist(self) -> None:
        """Hand the current state to the group commit (durable soon; see `commit.durable_version`); while a
        control request is applied, right after its reply is sent (sockets._serve_control)."""
        if self._persist_deferred:
            self._persist_due = True
            return
        self.commit.submit(self.engine.state)

    def _close_state(self) -> None:
        """A clean stop: every record flushed, a final snapshot, then the clean-shutdown marker, last."""
        self.commit.close()
        save_state(self.state_dir, self.engine.state, snapshot=True)
        mark_clean(self.state_dir, self.engine.state)


def _test_commit_delay_s() -> float:
    """The test-only flush delay (groupcommit.TEST_DELAY_ENV, milliseconds); 0 unless a test sets it."""
    raw = os.environ.get(TEST_DELAY_ENV, "")
    try:
        ms = float(raw) if raw else 0.0
    except ValueError:
        ms = 0.0
    if ms > 0:
        log.warning("%s=%s: the group commit waits %.1f ms before each flush (test only)", TEST_DELAY_ENV, raw, ms)
    return max(0.0, ms) / 1000
