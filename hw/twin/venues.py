"""How the three simulated venues behave: sessions, ids on the wire, accept/reject, matching.

Nasdaq speaks OUCH: the id the firm puts on the wire is the Order Token (a new token on every replace).
NYSE and NYSE Arca speak Pillar: the id is the ClOrdID (a new ClOrdID on every cancel/replace, the old one
is OrigClOrdID). Sessions are the logical ports the twin routes on; CAT's `session` field carries them.

Rules (deterministic, so tests and simulated days can rely on them):
- A limit price at or above $1.00 that is not a whole cent is rejected by the venue (Reg NMS Rule 612,
  sub-penny) -> ROUTE_REJECTED with VENUE_REJECTED. The flow generator uses this to make venue rejects.
- A marketable order (market, or a limit buy at/above / sell at/below the reference price) executes at the
  reference price at once: in two partial fills when it is 200 shares or more, else in one.
- A resting order fills only when the flow generator sends a counterparty (`passive_fill`).
"""

from __future__ import annotations

from core_bridge.protocol import PRICE_SCALE, OrdType, Side, Venue

SESSIONS: dict[Venue, bytes] = {Venue.NSDQ: b"OUCH01", Venue.NYSE: b"PLR01", Venue.ARCA: b"PLRA01"}
WIRE_PROTOCOL: dict[Venue, str] = {Venue.NSDQ: "OUCH", Venue.NYSE: "Pillar", Venue.ARCA: "Pillar"}
ROUTABLE = (Venue.NSDQ, Venue.NYSE, Venue.ARCA)
_CENT = PRICE_SCALE // 100


class VenueSim:
    """Per-venue id counters. Ids are derived (venue, epoch, counter): deterministic, unique per day."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self._routed = dict.fromkeys(ROUTABLE, 0)
        self._venue_ids = dict.fromkeys(ROUTABLE, 0)
        self._exec = dict.fromkeys(ROUTABLE, 0)

    def _next(self, counters: dict[Venue, int], venue: Venue, base: int) -> int:
        counters[venue] += 1
        return (base << 56) | ((self.epoch & 0xFFFFFF) << 32) | counters[venue]

    def routed_id(self, venue: Venue) -> int:
        """OUCH Order Token / Pillar ClOrdID for a new order or a replace."""
        return self._next(self._routed, venue, int(venue) + 8)

    def venue_order_id(self, venue: Venue) -> int:
        return self._next(self._venue_ids, venue, int(venue))

    def exec_id(self, venue: Venue) -> int:
        return self._next(self._exec, venue, int(venue) + 16)


def venue_accepts(ord_type: OrdType, price: int) -> bool:
    if ord_type is OrdType.MARKET:
        return True
    return not (price >= PRICE_SCALE and price % _CENT)


def marketable(side: Side, ord_type: OrdType, price: int, ref: int) -> bool:
    if ord_type is OrdType.MARKET:
        return True
    return price >= ref if side is Side.BUY else price <= ref


def immediate_fills(leaves: int) -> list[int]:
    if leaves >= 200:
        first = (leaves // 200) * 100
        return [first, leaves - first]
    return [leaves]
