"""The event sequencer the engine is built on: one gapless seq per epoch, strictly increasing timestamps.

Kept apart so that every emitter (the order path, control commands, HA hand-over) goes through the same two
counters: an event gets the next seq of the current epoch, and a timestamp past the previous one even when
the clock stands still or a simulated session date shifts it (`event_clock_offset_ns`, see session_clock.py).
Events are buffered as tuples until the server (or simulate_day) `drain()`s them into EVENT_DTYPE records.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventType

_NO_EVENTS = np.zeros(0, dtype=EVENT_DTYPE)
_NO_EVENTS.flags.writeable = False


class EventSequencer:
    """Mixin of `engine.CoreEngine` (which initialises these fields): seq, timestamps, pending events."""

    epoch: int
    seq: int
    _last_ts: int
    event_clock_offset_ns: int
    pending: list[tuple[Any, ...]]

    def _ts(self, now: int) -> int:
        now += self.event_clock_offset_ns
        ts = now if now > self._last_ts else self._last_ts + 1
        self._last_ts = ts
        return ts

    def reserve(self, n: int, now: int) -> tuple[int, int]:
        """Take n seqs and n timestamps at once (stream mode); returns the first seq and first ts."""
        first = self.seq + 1
        self.seq += n
        ts = self._ts(now)
        self._last_ts = ts + n - 1
        return first, ts

    def _emit(self, now: int, etype: EventType, *, side: int = 0, venue: int = 0, flags: int = 0, reason: int = 0,
              ord_type: int = 0, tif: int = 0, account: str = "", symbol: str = "", session: bytes = b"",
              qty: int = 0, leaves: int = 0, last_qty: int = 0, price: int = 0, last_px: int = 0,
              order_id: int = 0, orig_order_id: int = 0, routed_id: int = 0, venue_order_id: int = 0,
              exec_id: int = 0, clordid: int = 0) -> None:
        self.seq += 1
        self.pending.append((self.seq, self._ts(now), self.epoch, int(etype), side, venue, flags, reason, ord_type, tif,
                             account.encode(), symbol.encode(), session, qty, leaves, last_qty, price, last_px,
                             order_id, orig_order_id, routed_id, venue_order_id, exec_id, clordid))

    def drain(self) -> np.ndarray:
        if not self.pending:
            return _NO_EVENTS  # read-only: the loop asks after every request, mostly for nothing
        out = np.array(self.pending, dtype=EVENT_DTYPE)
        self.pending = []
        return out
