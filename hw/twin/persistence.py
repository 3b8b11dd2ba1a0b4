"""TwinCore's persistence wiring: what a twin node keeps on disk besides the event journal's contents.

At start, the control state is recovered (statestore.load_state; unreadable -> `unknown_state`, HALTED, the
bad file kept aside) and moved to a new epoch past every one the journal holds, so a restart never reuses a
published seq; after every applied mutating command the engine calls `_persist` before the reply goes out.
The endpoint file (<home>/run/twin-<node>.json) tells launchers and corectl where this node listens.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson

from hw.errors import TwinStateError
from hw.twin.engine import CoreEngine
from hw.twin.eventlog import EventLog
from hw.twin.state import TwinState, unknown_state
from hw.twin.statestore import STATE_FILE, load_state, save_state

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

    def _recover_state(self) -> TwinState:
        """The persisted state (or unknown: HALTED), in a new epoch, saved; the journal opens that epoch."""
        self.eventlog = EventLog(self.state_dir / "events")
        try:
            state = load_state(self.state_dir)
        except TwinStateError as exc:
            log.error("state unknown, coming up HALTED: %s", exc)
            bad = self.state_dir / STATE_FILE
            if bad.exists():
                os.replace(bad, self.state_dir / f"{STATE_FILE}.corrupt-{time.time_ns()}")
            state = unknown_state()
        state.epoch = max([state.epoch, *self.eventlog.epochs()]) + 1
        save_state(self.state_dir, state)
        self.eventlog.open_epoch(state.epoch)
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
        save_state(self.state_dir, self.engine.state)
