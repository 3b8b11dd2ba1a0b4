"""High-rate synthetic drop-copy records for capture benchmarks (`sim` action "stream").

Records are valid and self-consistent: every four consecutive stream positions are one order's life
(ORDER_NEW, ORDER_ROUTED, ORDER_ACKED, ORDER_FILLED in full), on account BENCH01 so they never mix with a
real account's positions. They are built a batch at a time with numpy (no Python per record) and take
ordinary seqs from the engine's sequencer, so they land in the twin's journal and rewind serves them.
"""

from __future__ import annotations

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventType, OrdType, Side, TimeInForce, Venue
from hw.refdata import SECURITIES
from hw.twin.venues import SESSIONS

STREAM_ACCOUNT = b"BENCH01"
_ETYPES = np.array([EventType.ORDER_NEW, EventType.ORDER_ROUTED, EventType.ORDER_ACKED, EventType.ORDER_FILLED],
                   dtype=np.uint8)
_VENUES = np.array([Venue.NSDQ, Venue.NYSE, Venue.ARCA], dtype=np.uint8)
_SESSIONS = np.array([SESSIONS[Venue.NSDQ], SESSIONS[Venue.NYSE], SESSIONS[Venue.ARCA]], dtype="S8")
_SYMBOLS = np.array([s.symbol.encode() for s in SECURITIES], dtype="S8")
_PRICES = np.array([s.ref_price for s in SECURITIES], dtype=np.int64)


class SyntheticStream:
    """Generates stream positions pos, pos+1, ... as EVENT_DTYPE records."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.pos = 0  # stream position of the next record
        self._base = (1 << 63) | ((epoch & 0xFFFFFF) << 32)  # order ids in their own id space

    def batch(self, first_seq: int, n: int, now_ns: int) -> np.ndarray:
        pos = np.arange(self.pos, self.pos + n, dtype=np.uint64)
        self.pos += n
        order = pos // 4
        kind = (pos % 4).astype(np.intp)
        sym = (order % len(_SYMBOLS)).astype(np.intp)
        ven = (order % 3).astype(np.intp)
        filled = kind == 3
        r = np.zeros(n, dtype=EVENT_DTYPE)
        r["seq"] = np.arange(first_seq, first_seq + n, dtype=np.uint64)
        r["ts_ns"] = now_ns + np.arange(n, dtype=np.int64)
        r["epoch"] = self.epoch
        r["etype"] = _ETYPES[kind]
        r["side"] = Side.BUY
        r["venue"] = _VENUES[ven]
        r["ord_type"] = OrdType.LIMIT
        r["tif"] = TimeInForce.DAY
        r["account"] = STREAM_ACCOUNT
        r["symbol"] = _SYMBOLS[sym]
        r["session"] = np.where(kind >= 1, _SESSIONS[ven], b"")
        r["qty"] = 100
        r["leaves_qty"] = np.where(filled, 0, 100)
        r["last_qty"] = np.where(filled, 100, 0)
        r["price"] = _PRICES[sym]
        r["last_px"] = np.where(filled, _PRICES[sym], 0)
        oid = np.uint64(self._base) + order
        r["order_id"] = oid
        r["routed_id"] = np.where(kind >= 1, oid, 0)
        r["venue_order_id"] = np.where(kind >= 2, oid ^ np.uint64(1 << 62), 0)
        r["exec_id"] = np.where(filled, oid, 0)
        r["clordid"] = order + np.uint64(1)
        return r
