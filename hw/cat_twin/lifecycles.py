"""Scripted order lifecycles as drop-copy events: small, explicit days for CAT tests and the benchmark.

`DayScript` appends EVENT_DTYPE records with a gapless seq and a strictly increasing clock, so a test
reads like the order's story: new -> route -> ack -> fill -> cancel. `mixed_day` repeats a fixed set of
lifecycles (replaces, partial fills, cancels, venue rejects, short sales, expiries, risk rejects) and
`tile_day` renumbers a day vectorised to reach benchmark sizes.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventFlag, EventType, OrdType, Side, TimeInForce, Venue, to_fixed
from core_bridge.reasons import ReasonCode

NY = ZoneInfo("America/New_York")
SESSIONS = {Venue.NSDQ: "OUCH01", Venue.NYSE: "PLR01", Venue.ARCA: "PLRA01"}


def open_ns(day: dt.date) -> int:
    """09:30 New York on `day`, UTC ns."""
    return int(dt.datetime(day.year, day.month, day.day, 9, 30, tzinfo=NY).timestamp()) * 1_000_000_000


class DayScript:
    def __init__(self, day: dt.date, epoch: int = 1, step_ns: int = 1_000_000) -> None:
        self.day = day
        self.epoch = epoch
        self.step = step_ns
        self.ts = open_ns(day)
        self.rows: list[dict[str, object]] = []
        self.next_order = 1000
        self.next_routed = 500_000

    def _emit(self, etype: EventType, **kw: object) -> dict[str, object]:
        self.ts += self.step
        row: dict[str, object] = {"seq": len(self.rows) + 1, "ts_ns": self.ts, "epoch": self.epoch,
                                  "etype": int(etype), **kw}
        self.rows.append(row)
        return row

    def new(self, symbol: str = "AAPL", side: Side = Side.BUY, qty: int = 100, price: str | None = "230.05",
            account: str = "PROP01", tif: TimeInForce = TimeInForce.DAY, iso: bool = False,
            rejected: bool = False) -> int:
        self.next_order += 1
        oid = self.next_order
        self._emit(EventType.ORDER_REJECTED if rejected else EventType.ORDER_NEW, order_id=oid, account=account,
                   symbol=symbol, side=int(side), qty=qty, leaves_qty=qty,
                   price=to_fixed(price) if price is not None else 0,
                   ord_type=int(OrdType.LIMIT if price is not None else OrdType.MARKET), tif=int(tif),
                   flags=int(EventFlag.ISO if iso else 0))
        return oid

    def _o(self, oid: int) -> dict[str, object]:
        for r in reversed(self.rows):
            if r.get("order_id") == oid and r["etype"] in (EventType.ORDER_NEW, EventType.ORDER_REPLACED):
                return r
        raise KeyError(oid)

    def route(self, oid: int, venue: Venue = Venue.NSDQ) -> int:
        o = self._o(oid)
        self.next_routed += 1
        self._emit(EventType.ORDER_ROUTED, order_id=oid, routed_id=self.next_routed, venue=int(venue),
                   session=SESSIONS[venue], symbol=o["symbol"], account=o["account"], side=o["side"],
                   qty=o["qty"], price=o["price"], ord_type=o["ord_type"], tif=o["tif"])
        return self.next_routed

    def ack(self, oid: int) -> None:
        self._emit(EventType.ORDER_ACKED, order_id=oid, venue_order_id=oid * 7)

    def fill(self, oid: int, qty: int, leaves: int) -> None:
        o = self._o(oid)
        self._emit(EventType.ORDER_FILLED, order_id=oid, last_qty=qty, leaves_qty=leaves, last_px=o["price"],
                   symbol=o["symbol"], account=o["account"], exec_id=len(self.rows) + 1)

    def replace(self, oid: int, qty: int, price: str, with_route: bool = True) -> int:
        o = self._o(oid)
        self.next_order += 1
        new = self.next_order
        rid = 0
        if with_route:
            self.next_routed += 1
            rid = self.next_routed
        self._emit(EventType.ORDER_REPLACED, order_id=new, orig_order_id=oid, routed_id=rid, symbol=o["symbol"],
                   account=o["account"], side=o["side"], qty=qty, price=to_fixed(price), ord_type=o["ord_type"],
                   tif=o["tif"])
        return new

    def cancel(self, oid: int, reason: ReasonCode = ReasonCode.CANCEL_FIRM, request: bool = True) -> None:
        if request:
            self._emit(EventType.ORDER_CANCEL_REQUESTED, order_id=oid)
        self._emit(EventType.ORDER_CANCELLED, order_id=oid, reason=int(reason))

    def cancel_request(self, oid: int) -> None:
        self._emit(EventType.ORDER_CANCEL_REQUESTED, order_id=oid)

    def venue_reject(self, oid: int, routed_id: int = 0) -> None:
        self._emit(EventType.ROUTE_REJECTED, order_id=oid, routed_id=routed_id, reason=int(ReasonCode.VENUE_REJECTED))

    def expire(self, oid: int) -> None:
        self._emit(EventType.ORDER_EXPIRED, order_id=oid, reason=int(ReasonCode.CANCEL_EXPIRED))

    def events(self) -> np.ndarray:
        out = np.zeros(len(self.rows), dtype=EVENT_DTYPE)
        for i, r in enumerate(self.rows):
            for k, v in r.items():
                out[i][k] = v.encode() if isinstance(v, str) else v
        return out


def mixed_day(day: dt.date, repeats: int = 1) -> np.ndarray:
    """Every lifecycle the CAT builder must handle, `repeats` times (orders interleave only within a block)."""
    s = DayScript(day)
    for _ in range(repeats):
        a = s.new("AAPL", Side.BUY, 500, "230.05")  # partial fill, then firm cancel of the rest
        s.route(a, Venue.NSDQ)
        s.ack(a)
        s.fill(a, 200, 300)
        s.cancel(a)
        b = s.new("JPM", Side.SHORT, 300, "210.1")  # short sale, replaced (new token), then filled
        s.route(b, Venue.NYSE)
        s.ack(b)
        b2 = s.replace(b, 300, "210.2")
        s.ack(b2)
        s.fill(b2, 300, 0)
        c = s.new("SPY", Side.SELL, 100, "570.0001", account="PROP02")  # venue reject of the new order
        s.route(c, Venue.ARCA)
        s.venue_reject(c)
        d = s.new("MSFT", Side.SHORT_EXEMPT, 100, None, tif=TimeInForce.IOC)  # IOC market, expires
        s.route(d, Venue.NSDQ)
        s.ack(d)
        s.expire(d)
        e = s.new("XOM", Side.BUY, 100, "115", account="PROP04")  # FDID pending -> MENOS; DAY expiry
        s.route(e, Venue.NYSE)
        s.ack(e)
        s.cancel(e, ReasonCode.CANCEL_EXPIRED, request=False)
        s.new("TSLA", Side.BUY, 10**6, "250", rejected=True)  # blocked by the risk gate
        g = s.new("INTC", Side.SELL, 400, "22.01", account="PROP03")  # replace rejected by the venue
        s.route(g, Venue.NSDQ)
        s.ack(g)
        g2 = s.replace(g, 400, "22.02")
        s.venue_reject(g2)
        s.cancel(g, ReasonCode.CANCEL_CANCEL_ALL)
    return s.events()


def tile_day(day_events: np.ndarray, n_events: int) -> np.ndarray:
    """Repeat a day until it has `n_events` records, renumbering seq, ids and clock so each copy is a distinct,
    valid set of orders (vectorised: no Python loop per event)."""
    base = len(day_events)
    reps = -(-n_events // base)
    out = np.tile(day_events, reps)[:n_events].copy()
    k = (np.arange(len(out)) // base).astype(np.uint64)
    out["seq"] = np.arange(1, len(out) + 1, dtype=np.uint64)
    span_ids = np.uint64(max(int(day_events["order_id"].max()), int(day_events["orig_order_id"].max())) + 1)
    for f in ("order_id", "orig_order_id"):
        nz = out[f] != 0
        out[f][nz] += k[nz] * span_ids
    rspan = np.uint64(int(day_events["routed_id"].max()) + 1)
    nz = out["routed_id"] != 0
    out["routed_id"][nz] += k[nz] * rspan
    # keep every copy on the same trading day: 1 µs per event from the first event's time
    t0 = int(day_events["ts_ns"].min())
    out["ts_ns"] = t0 + np.arange(len(out), dtype=np.int64) * 1_000
    return out
