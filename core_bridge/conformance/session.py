"""One run of the suite against one core: its configuration, the peer, and what rules share.

The suite changes state only on a scope of its own (the symbol `Config.symbol`, default `ZZCONF`, which no
real book trades) and, for the cancel rule, the firm level, which it restores. After every rule the session
puts the symbol back to ACTIVE (which removes the entry) and the firm level back to what it found, best
effort, so rules do not depend on each other's leftovers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core_bridge import protocol
from core_bridge.conformance.peer import Endpoints, Peer, RewindAnswer

if TYPE_CHECKING:
    import numpy as np

HEARTBEAT_PERIOD_MS = 100  # docs/protocol.md §9 (`hb` every 100 ms); protocol.py has no constant for it yet
# Control versions this side speaks, newest first (a core is tested in the newest one it accepts), and the
# `v` of a rewind request (the record stream's version, which control protocol 2 left at 1).
CONTROL_VERSIONS: tuple[int, ...] = tuple(sorted(getattr(protocol, "SUPPORTED_VERSIONS", None)
                                                 or (protocol.PROTOCOL_VERSION,), reverse=True))
REWIND_VERSION: int = int(getattr(protocol, "STREAM_VERSION", 1))


@dataclass
class Config:
    endpoints: Endpoints
    keys_dir: Path
    operator_key: str = "operator"
    monitor_key: str = "monitor"
    symbol: str = "ZZCONF"  # the suite's own kill scope (1..8 printable ASCII)
    timeout_s: float = 2.0  # deadline of one control reply
    unknown_key_wait_s: float = 1.0  # how long a stranger's request must stay unanswered
    count_wait_s: float = 5.0  # how long a refused handshake may take to show in status and health
    hb_window_s: float = 2.0  # heartbeats measured over this long
    hb_tolerance: float = 0.3  # median interval within period x (1 +- tolerance)
    hb_max_gap: float = 5.0  # no interval above this many periods
    stream_seconds: float = 3.0  # drop copy watched this long
    restart: Callable[[], dict[str, Any]] | None = None  # restarts the core (--allow-restart); None: n/a
    restart_label: str = ""
    restart_deadline_s: float = 60.0
    seed: int = 1


@dataclass
class Session:
    config: Config
    peer: Peer
    hello: dict[str, Any] = field(default_factory=dict)
    negotiation: list[dict[str, Any]] = field(default_factory=list)  # hello per version tried, newest first
    live: np.ndarray | None = None  # live drop-copy records seen by dropcopy_continuity (rewind compares)
    firm_level: str | None = None  # the firm level found at the start (restored after a rule changed it)
    firm_changed: bool = False
    symbol_changed: bool = False

    @property
    def op(self) -> str:
        return self.config.operator_key

    @property
    def mon(self) -> str:
        return self.config.monitor_key

    def rewind(self, epoch: Any, from_seq: int, to_seq: int) -> RewindAnswer:
        return self.peer.rewind({"v": REWIND_VERSION, "epoch": epoch, "from_seq": from_seq, "to_seq": to_seq},
                                self.mon)

    def status(self) -> dict[str, Any]:
        """The status reply (monitor key); raises NoReply."""
        return self.peer.must("status", identity=self.mon)

    def set_kill(self, scope: str, key: str | None, level: str, *, identity: str | None = None,
                 rid: str | None = None, **kw: Any) -> dict[str, Any]:
        if scope == "firm":
            self.firm_changed = True
        else:
            self.symbol_changed = True
        return self.peer.must("set_kill", {"scope": scope, "key": key, "level": level},
                              identity=identity or self.op, rid=rid, **kw)

    def set_symbol(self, level: str, **kw: Any) -> dict[str, Any]:
        return self.set_kill("symbol", self.config.symbol, level, **kw)

    def kill_args(self, level: str) -> dict[str, Any]:
        return {"scope": "symbol", "key": self.config.symbol, "level": level}

    def symbol_level(self, status: dict[str, Any]) -> str:
        kill = (status.get("result") or {}).get("kill") or {}
        return str((kill.get("symbol") or {}).get(self.config.symbol, "ACTIVE"))

    def cleanup(self) -> None:
        """Best effort, never raises: the symbol back to ACTIVE, the firm back to its level at the start."""
        try:
            if self.symbol_changed:
                self.peer.call("set_kill", self.kill_args("ACTIVE"), identity=self.op)
                self.symbol_changed = False
            if self.firm_changed and self.firm_level is not None:
                self.peer.call("set_kill", {"scope": "firm", "key": None, "level": self.firm_level},
                               identity=self.op)
                self.firm_changed = False
        except Exception:  # noqa: S110 - cleanup after a failed rule; the rule's own result says what broke
            pass
