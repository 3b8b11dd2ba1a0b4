"""The twin core's engine: control commands, the order path through the risk gate to the venues, and
the event sequencer. No sockets and no wall clock: every call takes `now_ns`, so the same engine runs
live behind `server.TwinCore` and in virtual time inside `market.simulate_day`.

`CoreEngine` is assembled here from one mixin per concern, each in its own module:
    sequencer.py  EventSequencer    seq and timestamps of every event, the pending buffer
    orders.py     OrderPath         the order lifecycle (gate, venues, fills, expiry, cancel) and HA hand-over
    controls.py   ControlCommands   kill levels, limits, BP, locates, restricted list, halts, SOD positions
    dispatch.py   CommandDispatch   request handling: version, role, idempotency, expiry, handler table
This module holds the state they share (initialised once, below) and the engine's telemetry.

Invariants (the real core keeps the same ones):
- A command id already applied is not applied again; the original reply is replayed (same state_version).
- Every applied mutating command bumps `state_version` and is handed to `persist`; when its reply may go out
  (at once for a tightening control, once durable otherwise: protocol v2, tightening.py) is the server's.
- Cancels are never blocked by any kill level or limit.
- Every event gets the next seq of the current epoch; seq is gapless from 1 within an epoch.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from typing import Any

from core_bridge.protocol import TIGHTENABLE, Command, from_fixed
from hw.refdata import SECURITIES
from hw.twin import risk
from hw.twin.controls import ControlCommands
from hw.twin.dispatch import CommandDispatch
from hw.twin.ha import HaNode
from hw.twin.state import TwinState
from hw.twin.tightening import classified
from hw.twin.venues import VenueSim


class CoreEngine(CommandDispatch, ControlCommands):
    """State + gate + venues + sequencer. Call `drain()` to take the events emitted so far."""

    def __init__(self, state: TwinState, *, node: str = "primary", ha: HaNode | None = None,
                 started_ns: int | None = None) -> None:
        self.state = state
        self.epoch = state.epoch
        self.ha = ha or HaNode(node)
        self.node = node
        self.seq = 0
        self._last_ts = 0
        self.event_clock_offset_ns = 0  # the server sets it for a simulated session date (session_clock.py)
        self.started_ns = started_ns if started_ns is not None else time.time_ns()
        self.pending = []
        self.orders = {}  # working orders
        self.done = OrderedDict()
        self._next_order = 0
        self.venues = VenueSim(self.epoch)
        self.risk = risk.RiskInputs()
        self.risk.ref_price = {s.symbol: s.ref_price for s in SECURITIES}
        self.risk.positions = {(a, s): q for a, pos in state.positions.items() for s, q in pos.items()}
        self.refresh_risk()
        self.persist = lambda: None
        self.on_applied = lambda req, rep: None
        self.status_extra = dict  # the server adds auth_failures
        # telemetry counters
        self.orders_accepted = 0
        self.rejects = Counter()
        self.gate_ns = []
        self.handlers = {
            Command.HELLO: self._hello,
            Command.STATUS: lambda r, i, n: self.status(n),
            Command.SNAPSHOT: lambda r, i, n: self.snapshot(n),
            Command.SET_KILL: self._set_kill,
            Command.CANCEL_ALL: self._cancel_all,
            Command.SET_LIMITS: self._set_limits,
            Command.SET_BP: self._set_bp,
            Command.SET_LOCATES: self._set_locates,
            Command.SET_RESTRICTED: self._set_restricted,
            Command.SET_PREBORROW: self._set_preborrow,
            Command.SET_HALTS: self._set_halts,
            Command.SET_SOD_POSITIONS: self._set_sod_positions,
            Command.SUBMIT_ORDERS: self._submit_orders,
            Command.HA_STATUS: lambda r, i, n: self.ha.status(self.epoch),
            Command.HA_PROMOTE: self._ha_unchanged,
            Command.HA_DEMOTE: self._ha_unchanged,
        }
        # protocol v2's ack contract: the last applied command was tightening (acked before it is durable)
        self.tightening = False
        for cmd in TIGHTENABLE:
            self.handlers[cmd] = classified(self, cmd, self.handlers[cmd])

    # ------------------------------------------------------------------ telemetry
    def health(self) -> dict[str, Any]:
        lat = sorted(self.gate_ns)
        self.gate_ns = []

        def pct(p: float) -> int | None:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

        return {
            "rejects": dict(self.rejects),
            "exposure": self.exposure(),
            "gate_latency_ns": {"p50": pct(0.5), "p99": pct(0.99), "max": lat[-1] if lat else None,
                                "samples": len(lat)},
            "trading_state": self.state.kill_firm.name,
            "orders_working": len(self.orders),
        }

    def exposure(self) -> dict[str, dict[str, str]]:
        out: dict[str, list[int]] = {}
        for (a, s), q in self.risk.positions.items():
            v = q * self.risk.ref_price.get(s, 0)
            g = out.setdefault(a, [0, 0])
            g[0] += abs(v)
            g[1] += v
        return {a: {"gross": from_fixed(g), "net": from_fixed(n)} for a, (g, n) in sorted(out.items())}
