"""The kill-to-flat state machine: pure, fed the drop copy in sequence, no sockets and no clock of its own.

Why each step waits for what it waits for:
- **Cancels are confirmed by the drop copy, per venue.** The cancel-all reply lists the orders the core
  asked the venues to cancel; an order counts as gone only when its ORDER_CANCELLED (or a FILLED to zero,
  EXPIRED, ROUTE_REJECTED) record arrives. A venue is clear when its last listed order is gone. A core that
  does not list the orders is waited for by count (its FROM_CANCEL_ALL cancels in the scope).
- **Positions come from the drop copy too.** They start from the snapshot taken just before the flow (at
  its `last_seq`) and move with every fill after it, so `flat` means the records say zero, not that the
  orders were sent.
- **Flatten orders only reduce.** IOC limit orders per position (split within the per-order qty and notional
  limits), priced half the collar through the mark so they are marketable yet inside the collar; the core
  admits them past the kill level only with REDUCE_ONLY semantics (protocol §5). A remainder that expires is
  sent again, a rejected order is not: the outcome is partial and says what is open.
- **The tighter level wins.** A kill that lowers the scope below HALTED during the flow (a watcher trip, a
  human) is seen on the drop copy and answered by setting HALTED again (`reassert`); a tighter kill
  elsewhere is recorded and the flatten, which only reduces, goes on.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from core_bridge.protocol import (
    KILL_SCOPE_CODES,
    PRICE_SCALE,
    EventFlag,
    EventType,
    KillLevel,
    KillScope,
    Side,
    Venue,
)
from core_bridge.reasons import ReasonCode

if TYPE_CHECKING:
    import numpy as np

from core_bridge.killflat.timeline import Timeline

ROUTING = ("NSDQ", "NYSE", "ARCA")
_SCOPE_OF_CODE = {v: k for k, v in KILL_SCOPE_CODES.items()}
_CENT = Decimal("0.01")
_GONE = {int(EventType.ORDER_CANCELLED): "cancelled", int(EventType.ORDER_EXPIRED): "expired",
         int(EventType.ROUTE_REJECTED): "route_rejected"}


class Phase(enum.StrEnum):
    HALTING = "halting"
    CANCELLING = "cancelling"
    FLATTENING = "flattening"
    FLAT = "flat"
    PARTIAL = "partial"


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii", "replace")


def _venue(v: int) -> str:
    try:
        return Venue(v).name
    except ValueError:
        return str(v)


def _reason(v: int) -> str:
    try:
        return ReasonCode(v).name
    except ValueError:
        return str(v)


@dataclass
class FlattenOrder:
    order_id: int
    account: str
    symbol: str
    side: str
    qty: int
    price: str
    venue: str
    filled: int = 0
    done: str | None = None  # filled | expired | rejected | route_rejected | cancelled


@dataclass
class FlattenFlow:
    """One kill-to-flat of (scope, key), from the snapshot at `epoch`/`from_seq - 1` on."""

    scope: KillScope
    key: str | None
    epoch: int
    next_seq: int
    positions: dict[tuple[str, str], int] = field(default_factory=dict)
    timeline: Timeline = field(default_factory=Timeline)
    phase: Phase = Phase.HALTING
    resting: dict[int, str] = field(default_factory=dict)  # order id -> venue, listed by cancel-all
    gone: dict[int, str] = field(default_factory=dict)  # order id -> how it went
    expected_count: int | None = None  # a core that lists no orders: cancels to wait for
    unlisted_cancels: int = 0
    flatten: dict[int, FlattenOrder] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    reassert: list[str] = field(default_factory=list)  # levels set on the scope during the flow, to answer
    problems: list[str] = field(default_factory=list)
    rounds: int = 0
    # (account, symbol, side, price, qty) of every flatten order planned: the core refuses an order identical to
    # one it saw within its duplicate window (15c3-5's erroneous-order check), so slices are never repeated.
    sent: set[tuple[str, str, str, str, int]] = field(default_factory=set)

    @classmethod
    def start(cls, scope: KillScope, key: str | None, snapshot: Mapping[str, Any], timeline: Timeline) -> FlattenFlow:
        """From a `snapshot` result: its epoch, last_seq and the positions in the scope."""
        flow = cls(scope, key, int(snapshot["epoch"]), int(snapshot["last_seq"]) + 1, timeline=timeline)
        for acct, syms in (snapshot.get("positions") or {}).items():
            for sym, qty in (syms or {}).items():
                if isinstance(qty, int) and qty and flow.covers(str(acct), str(sym), None):
                    flow.positions[(str(acct), str(sym))] = qty
        return flow

    @property
    def where(self) -> str:
        return "firm" if self.key is None else f"{self.scope.value} {self.key}"

    def covers(self, account: str, symbol: str, venue: str | None) -> bool:
        if self.scope is KillScope.FIRM:
            return True
        if self.scope is KillScope.ACCOUNT:
            return account == self.key
        if self.scope is KillScope.SYMBOL:
            return symbol == self.key
        return venue == self.key

    # --- what the runner tells it ---

    def halted(self, at_ns: int, previous: str | None) -> None:
        self.timeline.add(at_ns, "command", detail=f"set_kill HALTED on {self.where} acked (was {previous})")
        self.phase = Phase.CANCELLING

    def cancels_listed(self, at_ns: int, result: Mapping[str, Any]) -> None:
        listed = result.get("orders")
        if isinstance(listed, list):
            for o in listed:
                if isinstance(o, dict) and isinstance(o.get("order_id"), int):
                    oid = int(o["order_id"])
                    if oid not in self.gone:
                        self.resting[oid] = str(o.get("venue") or "?")
        else:
            self.expected_count = int(result.get("cancelled") or 0)
        n = len(listed) if isinstance(listed, list) else self.expected_count
        per = ", ".join(f"{v} {len(ids)}" for v, ids in sorted(self.pending_by_venue().items()))
        self.timeline.add(at_ns, "cancel_all", detail=f"cancel-all on {self.where} acked: {n} resting order(s)"
                          + (f" ({per})" if per else ""))
        if self.cancels_confirmed():
            self._venues_clear(at_ns, set(self.resting.values()))

    def pending_by_venue(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for oid, venue in sorted(self.resting.items()):
            if oid not in self.gone:
                out.setdefault(venue, []).append(oid)
        return out

    def cancels_confirmed(self) -> bool:
        if self.expected_count is not None:
            return self.unlisted_cancels >= self.expected_count
        return not self.pending_by_venue()

    def cancel_timeout(self, at_ns: int, deadline_s: float) -> None:
        for venue, ids in sorted(self.pending_by_venue().items()):
            self.timeline.add(at_ns, "venue_timeout", venue=venue,
                              detail=f"{len(ids)} order(s) not confirmed cancelled within {deadline_s:g} s: "
                                     + ", ".join(map(str, ids)))
            self.problems.append(f"{venue}: {len(ids)} resting order(s) not confirmed cancelled within "
                                 f"{deadline_s:g} s ({', '.join(map(str, ids))})")
        if self.expected_count is not None and not self.cancels_confirmed():
            self.problems.append(f"{self.expected_count - self.unlisted_cancels} of {self.expected_count} cancels"
                                 f" not confirmed within {deadline_s:g} s")
        self.finish(at_ns)

    def plan_orders(self, marks: Mapping[str, Decimal], collar_pct: Decimal, max_qty: int,
                    venue_kills: Mapping[str, str], first_clordid: int,
                    max_notional: Decimal | None = None) -> list[dict[str, Any]]:
        """The next round of flatten orders for every open position (none for one without a mark), each within
        `max_qty` shares and `max_notional` dollars (the 15c3-5 per-order limits)."""
        self.phase = Phase.FLATTENING
        self.rounds += 1
        venue = next((v for v in ROUTING if v not in venue_kills), ROUTING[0])
        working: dict[tuple[str, str], int] = {}
        for fo in self.flatten.values():
            if fo.done is None:
                working[(fo.account, fo.symbol)] = working.get((fo.account, fo.symbol), 0) + 1
        out: list[dict[str, Any]] = []
        for (acct, sym), qty in sorted(self.positions.items()):
            if qty == 0 or working.get((acct, sym)):
                continue
            mark = marks.get(sym)
            if mark is None or mark <= 0:
                self.problems.append(f"{acct} {sym}: position {qty}, no mark to price a flatten order")
                continue
            half = mark * collar_pct / 200
            if qty > 0:  # sell at or below the mark, rounded up to the cent (toward the mark)
                px, side = ((mark - half) / _CENT).to_integral_value(ROUND_CEILING) * _CENT, "SELL"
            else:
                px, side = ((mark + half) / _CENT).to_integral_value(ROUND_FLOOR) * _CENT, "BUY"
            left, cap = abs(qty), max(1, max_qty)
            if max_notional is not None:
                cap = max(1, min(cap, int(max_notional / px)))
            price = format(px.quantize(_CENT), "f")
            for q in distinct_slices(left, cap, {k[4] for k in self.sent if k[:4] == (acct, sym, side, price)}):
                self.sent.add((acct, sym, side, price, q))
                out.append({"action": "new", "clordid": first_clordid + len(out), "account": acct, "symbol": sym,
                            "side": side, "qty": q, "price": price, "ord_type": "LIMIT", "tif": "IOC",
                            "venue": venue, "flatten": True})
                left -= q
            if left:
                self.problems.append(f"{acct} {sym}: {left} shares left unplanned (every slice size within the "
                                     f"per-order limit already sent at {price})")
        return out

    def submitted(self, at_ns: int, orders: list[dict[str, Any]], results: list[Mapping[str, Any]]) -> None:
        for o, r in zip(orders, results, strict=False):
            oid = int(r.get("order_id") or 0)
            fo = FlattenOrder(oid, o["account"], o["symbol"], o["side"], int(o["qty"]), o["price"], o["venue"])
            what = f"{o['side']} {o['qty']} {o['symbol']} @ {o['price']} IOC for {o['account']}"
            if r.get("ok"):
                self.flatten[oid] = fo
                self.timeline.add(at_ns, "flatten_order", venue=fo.venue, order_id=oid, detail=what)
            elif r.get("code") == "VENUE_REJECTED":  # routed, then refused: the records say so too
                fo.done = "route_rejected"
                self.flatten[oid] = fo
                self._reject(at_ns, fo, what, str(r.get("code")))
            else:
                fo.done = "rejected"
                if oid:
                    self.flatten[oid] = fo
                self._reject(at_ns, fo, what, str(r.get("code")), str(r.get("message") or ""))

    def _reject(self, at_ns: int, fo: FlattenOrder, what: str, code: str, message: str = "") -> None:
        self.rejected.append({"order_id": fo.order_id, "account": fo.account, "symbol": fo.symbol, "code": code})
        self.timeline.add(at_ns, "flatten_rejected", venue=fo.venue, order_id=fo.order_id or None,
                          detail=f"{what} rejected {code}" + (f": {message}" if message else ""))
        self.problems.append(f"flatten order {fo.side} {fo.qty} {fo.symbol} for {fo.account} rejected {code}")

    def round_done(self) -> bool:
        return all(fo.done is not None for fo in self.flatten.values())

    def is_flat(self) -> bool:
        return not any(self.positions.values())

    def open_positions(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (a, s), q in sorted(self.positions.items()):
            if q:
                out.setdefault(a, {})[s] = q
        return out

    def finish(self, at_ns: int, why: str = "") -> Phase:
        """Flat, or partial with every open item named; called once at the end."""
        if why:
            self.problems.append(why)
        if self.phase in (Phase.FLAT, Phase.PARTIAL):
            return self.phase
        if self.is_flat() and self.cancels_confirmed() and not self.problems and self.phase is Phase.FLATTENING:
            self.phase = Phase.FLAT
            self.timeline.add(at_ns, "flat", detail=f"positions in {self.where} are zero by the drop copy")
        else:
            for (a, s), q in sorted(self.positions.items()):
                if q and not any(p.startswith(f"{a} {s}:") for p in self.problems):
                    self.problems.append(f"{a} {s}: position {q} still open")
            self.phase = Phase.PARTIAL
            self.timeline.add(at_ns, "partial", detail="; ".join(self.problems) or "not flat")
        return self.phase

    # --- the drop copy ---

    def on_records(self, recs: np.ndarray) -> None:
        """Records of `epoch` from `next_seq` on, in order (the runner fills gaps by rewind first)."""
        seqs = recs["seq"].tolist()
        for i, seq in enumerate(seqs):
            if int(recs["epoch"][i]) != self.epoch:
                raise ValueError(f"record of epoch {int(recs['epoch'][i])} in a flow of epoch {self.epoch}")
            if seq < self.next_seq:
                continue
            if seq != self.next_seq:
                raise ValueError(f"gap: seq {seq} while {self.next_seq} is next")
            self.next_seq = seq + 1
            self._one(recs[i])

    def _one(self, r: Any) -> None:
        etype, at = int(r["etype"]), int(r["ts_ns"])
        acct, sym, venue = _text(r["account"].tobytes()), _text(r["symbol"].tobytes()), _venue(int(r["venue"]))
        if etype == EventType.KILL_STATE_CHANGED:
            self._kill_changed(at, r, acct, sym, venue)
            return
        oid = int(r["order_id"])
        if etype == EventType.ORDER_FILLED and self.covers(acct, sym, venue):
            q = int(r["last_qty"]) if int(r["side"]) == Side.BUY else -int(r["last_qty"])
            if self.scope is not KillScope.VENUE:
                self.positions[(acct, sym)] = self.positions.get((acct, sym), 0) + q
            fo = self.flatten.get(oid)
            px = format(Decimal(int(r["last_px"])) / PRICE_SCALE, "f")
            if fo is not None:
                fo.filled += int(r["last_qty"])
                self.timeline.add(at, "fill", venue=venue, order_id=oid,
                                  detail=f"{fo.side} {int(r['last_qty'])} {sym} @ {px} for {acct}, "
                                         f"position now {self.positions.get((acct, sym), 0)}")
                if int(r["leaves_qty"]) == 0:
                    fo.done = "filled"
            if int(r["leaves_qty"]) == 0 and oid in self.resting and oid not in self.gone:
                self._gone(at, oid, venue, "filled", f"filled ({int(r['last_qty'])} @ {px}) before its cancel")
            return
        how = _GONE.get(etype)
        if how is None:
            return
        fo = self.flatten.get(oid)
        if fo is not None and fo.done is None:
            fo.done = how
            self.timeline.add(at, how, venue=venue, order_id=oid,
                              detail=f"{int(r['last_qty'])} {sym} unfilled ({_reason(int(r['reason']))})")
            if how == "route_rejected":
                self.problems.append(f"flatten order {oid} {sym} for {acct} rejected by {venue}")
            return
        if oid in self.resting and oid not in self.gone:
            self._gone(at, oid, venue, how, f"{int(r['last_qty'])} {sym} for {acct} ({_reason(int(r['reason']))})")
        elif (self.expected_count is not None and etype == EventType.ORDER_CANCELLED
              and int(r["flags"]) & EventFlag.FROM_CANCEL_ALL and self.covers(acct, sym, venue)):
            self.unlisted_cancels += 1
            self.timeline.add(at, "cancel_ack", venue=venue, order_id=oid, detail=f"{int(r['last_qty'])} {sym}")

    def _gone(self, at: int, oid: int, venue: str, how: str, detail: str) -> None:
        self.gone[oid] = how
        self.timeline.add(at, "cancel_ack" if how == "cancelled" else f"order_{how}", venue=venue, order_id=oid,
                          detail=detail)
        if venue not in self.pending_by_venue():
            self._venues_clear(at, {venue})

    def _venues_clear(self, at: int, venues: set[str]) -> None:
        for v in sorted(venues):
            n = sum(1 for ven in self.resting.values() if ven == v)
            self.timeline.add(at, "venue_clear", venue=v, detail=f"last of {n} resting order(s) gone")

    def _kill_changed(self, at: int, r: Any, acct: str, sym: str, venue: str) -> None:
        scope = _SCOPE_OF_CODE.get(int(r["qty"]), KillScope.FIRM)
        key = {KillScope.FIRM: None, KillScope.ACCOUNT: acct, KillScope.SYMBOL: sym, KillScope.VENUE: venue}[scope]
        try:
            level = KillLevel(int(r["price"])).name
        except ValueError:
            level = str(int(r["price"]))
        where = "firm" if key is None else f"{scope.value} {key}"
        mine = scope is self.scope and key == self.key
        if mine and level == "HALTED":
            self.timeline.add(at, "halted", detail=f"KILL_STATE_CHANGED: {where} HALTED")
            return
        self.timeline.add(at, "kill_seen", detail=f"KILL_STATE_CHANGED during the flatten: {where} -> {level}")
        if mine and self.phase not in (Phase.FLAT, Phase.PARTIAL):
            self.reassert.append(level)

    def reasserted(self, at_ns: int, looser: str) -> None:
        self.timeline.add(at_ns, "reassert", detail=f"HALTED set again on {self.where}: the flatten's level is "
                                                    f"tighter than {looser}, set during it (the tighter level wins)")

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope.value, "key": self.key, "outcome": self.phase.value, "epoch": self.epoch,
                "resting_orders": [{"order_id": oid, "venue": v, "gone": self.gone.get(oid)}
                                   for oid, v in sorted(self.resting.items())],
                "flatten_orders": [{"order_id": f.order_id, "account": f.account, "symbol": f.symbol, "side": f.side,
                                    "qty": f.qty, "price": f.price, "venue": f.venue, "filled": f.filled,
                                    "done": f.done} for f in self.flatten.values()],
                "rejected": self.rejected, "open_positions": self.open_positions(),
                "still_open": list(self.problems), "rounds": self.rounds}


def distinct_slices(total: int, cap: int, used: set[int]) -> list[int]:
    """Order sizes, each <= `cap`, pairwise distinct and not in `used`, largest first, summing to `total` (or
    to less when no unused size is left: the caller reports the rest)."""
    out: list[int] = []
    taken = set(used)
    left, size = total, min(cap, total)
    while left > 0 and size > 0:
        size = min(size, left)
        while size > 0 and size in taken:
            size -= 1
        if size == 0:
            break
        out.append(size)
        taken.add(size)
        left -= size
    return out
