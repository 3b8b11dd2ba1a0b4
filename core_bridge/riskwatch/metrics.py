"""What the watcher measures, per account, symbol, venue and for the firm, from the drop copy and telemetry.

Why its own book rather than the core's health figures: a trip must be explainable from what the firm's own
records say (the drop copy), and the core's summary has neither P&L nor per-symbol or per-venue figures.

- Positions are seeded once from the first `pos` telemetry, at the `marks` of that moment (so P&L counts
  from the watcher's start), then moved by every fill of the live drop copy (average cost: a fill that
  reduces a position realizes against its average price). Until seeded, book figures give no reading.
- Marks come from the `marks` telemetry topic. A mark older than `mark_max_age_s`, or not positive, is
  stale: a figure that needs it gives no reading (None), which the engine does not use, so one stale mark
  can never confirm a breach.
- Rates are counts over the last `rate_window_s` seconds (by local receive time) divided by the window:
  order attempts (ORDER_NEW + ORDER_REJECTED), rejects (ORDER_REJECTED, REPLACE_REJECTED, ROUTE_REJECTED;
  also by reason name) and fills.
- Heartbeat age is kept per node; the firm reading is the freshest node's (is any core alive).

Money is Decimal (USD), never float; prices arrive as decimal text or PRICE_SCALE integers.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from core_bridge.protocol import (
    PRICE_SCALE,
    TELEMETRY_TOPIC_HEARTBEAT,
    TELEMETRY_TOPIC_MARKS,
    TELEMETRY_TOPIC_POSITIONS,
    EventType,
    KillScope,
    Side,
    Venue,
)
from core_bridge.reasons import ReasonCode

if TYPE_CHECKING:
    import numpy as np

_SCALE = Decimal(PRICE_SCALE)
_ORDER = frozenset({int(EventType.ORDER_NEW), int(EventType.ORDER_REJECTED)})
_REJECT = frozenset({int(EventType.ORDER_REJECTED), int(EventType.REPLACE_REJECTED), int(EventType.ROUTE_REJECTED)})
_FILL = int(EventType.ORDER_FILLED)
_COUNTED = sorted(_ORDER | _REJECT | {_FILL})
_RATE_KIND = {"order_rate": "order", "reject_rate": "reject", "fill_rate": "fill"}
_VENUE_NAME = {int(v): v.name for v in Venue}
ZERO = Decimal(0)


def _dec(v: Any) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, str | int):
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _reason_name(value: int) -> str:
    try:
        return ReasonCode(value).name
    except ValueError:
        return str(value)


class _Position:
    __slots__ = ("cost", "qty", "realized")

    def __init__(self, qty: int = 0, cost: Decimal = ZERO) -> None:
        self.qty = qty
        self.cost = cost  # USD paid for the open quantity (negative for a short)
        self.realized = ZERO

    def fill(self, signed_qty: int, px: Decimal) -> None:
        q = self.qty
        if q == 0 or (q > 0) == (signed_qty > 0):
            self.qty, self.cost = q + signed_qty, self.cost + signed_qty * px
            return
        closed = min(abs(signed_qty), abs(q))
        avg_part = self.cost * closed / abs(q)  # the open cost of the shares this fill closes
        sign = 1 if q > 0 else -1
        self.realized += sign * closed * px - avg_part
        self.cost -= avg_part
        self.qty = q + signed_qty
        rest = abs(signed_qty) - closed
        if rest:  # crossed through zero: the remainder opens at this price
            self.cost = (rest if signed_qty > 0 else -rest) * px


class RiskBook:
    """The watcher's figures; `reading(metric, scope, key, now_s, reason)` gives one reading or None."""

    def __init__(self, rate_window_s: float = 5.0, mark_max_age_s: float = 5.0, started_s: float | None = None) -> None:
        self.rate_window_s = rate_window_s
        self.mark_max_age_s = mark_max_age_s
        self.started_s = time.time() if started_s is None else started_s
        self.positions: dict[tuple[str, str], _Position] = {}
        self.seeded = False
        self._seed: dict[str, Any] | None = None
        self.marks: dict[str, tuple[Decimal, float]] = {}  # symbol -> (price, local receive time)
        self.heartbeats: dict[str, float] = {}  # node -> local receive time of its last heartbeat
        self.last_telemetry_s: float | None = None
        self._buckets: deque[tuple[int, Counter[tuple[str, str, str, str]]]] = deque()
        self.accounts: set[str] = set()
        self.events = 0
        self.fills = 0

    # --- input ---

    def on_telemetry(self, topic: bytes, doc: Mapping[str, Any], at_s: float) -> None:
        self.last_telemetry_s = at_s
        if topic == TELEMETRY_TOPIC_HEARTBEAT:
            self.heartbeats[str(doc.get("node") or "core")] = at_s
        elif topic == TELEMETRY_TOPIC_MARKS:
            marks = doc.get("marks")
            if isinstance(marks, Mapping):
                for sym, px in marks.items():
                    d = _dec(px)
                    if d is not None and d > 0:
                        self.marks[str(sym)] = (d, at_s)
        elif topic == TELEMETRY_TOPIC_POSITIONS and not self.seeded:
            pos = doc.get("positions")
            if isinstance(pos, Mapping):
                self._seed = dict(pos)
        if self._seed is not None and not self.seeded and self.marks:
            self._seed_positions(self._seed)

    def _seed_positions(self, pos: Mapping[str, Any]) -> None:
        for acct, syms in pos.items():
            if not isinstance(syms, Mapping):
                continue
            self.accounts.add(str(acct))
            for sym, qty in syms.items():
                if not isinstance(qty, int) or isinstance(qty, bool) or qty == 0:
                    continue
                mark = self.marks.get(str(sym))
                cost = qty * mark[0] if mark else ZERO
                self.positions[(str(acct), str(sym))] = _Position(qty, cost)
        self.seeded, self._seed = True, None

    def on_records(self, recs: np.ndarray, at_s: float) -> None:
        """Fold one drop-copy batch (EVENT_DTYPE) in: fills into positions, counted events into the rates."""
        import numpy as np

        self.events += len(recs)
        sel = recs[np.isin(recs["etype"], _COUNTED)]
        if not len(sel):
            return
        sec = int(at_s)
        if not self._buckets or self._buckets[-1][0] != sec:
            self._buckets.append((sec, Counter()))
        bucket = self._buckets[-1][1]
        self._expire(at_s)
        cols = zip(sel["etype"].tolist(), sel["account"].tolist(), sel["symbol"].tolist(), sel["venue"].tolist(),
                   sel["reason"].tolist(), sel["side"].tolist(), sel["last_qty"].tolist(), sel["last_px"].tolist(),
                   strict=True)
        for etype, a_raw, s_raw, venue, reason, side, last_qty, last_px in cols:
            acct, sym = a_raw.decode("ascii", "replace"), s_raw.decode("ascii", "replace")
            self.accounts.add(acct)
            keys = (("firm", ""), ("account", acct), ("symbol", sym), ("venue", _VENUE_NAME.get(venue, str(venue))))
            kinds = []
            if etype in _ORDER:
                kinds.append(("order", ""))
            if etype in _REJECT:
                kinds += [("reject", ""), ("reject", _reason_name(reason))]
            if etype == _FILL:
                kinds.append(("fill", ""))
                self.fills += 1
                if self.seeded:
                    signed = last_qty if side == Side.BUY else -last_qty
                    self.positions.setdefault((acct, sym), _Position()).fill(signed, Decimal(last_px) / _SCALE)
            for kind, why in kinds:
                for scope, key in keys:
                    bucket[(kind, scope, key, why)] += 1

    def _expire(self, now_s: float) -> None:
        oldest = int(now_s - self.rate_window_s)
        while self._buckets and self._buckets[0][0] < oldest:
            self._buckets.popleft()

    # --- readings ---

    def rate(self, kind: str, scope: str, key: str, now_s: float, reason: str = "") -> Decimal:
        """Events per second over the last rate_window_s."""
        self._expire(now_s)
        lo = now_s - self.rate_window_s
        n = sum(c[(kind, scope, key, reason)] for sec, c in self._buckets if sec + 1 > lo)
        return Decimal(n) / Decimal(str(self.rate_window_s))

    def _mark(self, sym: str, now_s: float) -> Decimal | None:
        m = self.marks.get(sym)
        return m[0] if m is not None and now_s - m[1] <= self.mark_max_age_s else None

    def _rows(self, scope: KillScope, key: str | None) -> list[tuple[str, str, _Position]]:
        return [(a, s, p) for (a, s), p in self.positions.items()
                if scope is KillScope.FIRM or (scope is KillScope.ACCOUNT and a == key)
                or (scope is KillScope.SYMBOL and s == key)]

    def book_figure(self, metric: str, scope: KillScope, key: str | None, now_s: float) -> Decimal | None:
        """P&L, exposure or concentration of one scope; None when unseeded or a needed mark is stale."""
        if not self.seeded:
            return None
        rows = self._rows(scope, key)
        if metric == "realized_pnl":
            return sum((p.realized for _, _, p in rows), ZERO)
        values: list[tuple[str, Decimal, _Position]] = []
        for _, sym, p in rows:
            if p.qty == 0:
                continue
            mark = self._mark(sym, now_s)
            if mark is None:
                return None
            values.append((sym, p.qty * mark, p))
        if metric == "unrealized_pnl":
            return sum((v - p.cost for _, v, p in values), ZERO)
        if metric == "pnl":
            return sum((v - p.cost for _, v, p in values), ZERO) + sum((p.realized for _, _, p in rows), ZERO)
        if metric == "gross_exposure":
            return sum((abs(v) for _, v, _ in values), ZERO)
        if metric == "net_exposure":
            return sum((v for _, v, _ in values), ZERO)
        if metric == "concentration":
            per: dict[str, Decimal] = {}
            for sym, v, _ in values:
                per[sym] = per.get(sym, ZERO) + abs(v)
            gross = sum(per.values(), ZERO)
            return max(per.values()) / gross if gross else ZERO
        raise ValueError(f"not a book metric: {metric}")

    def heartbeat_age(self, now_s: float) -> Decimal:
        """Seconds since the freshest node's heartbeat (since the watcher started, before the first one)."""
        last = max(self.heartbeats.values(), default=self.started_s)
        return Decimal(str(round(max(0.0, now_s - last), 3)))

    def reading(self, metric: str, scope: KillScope, key: str | None, now_s: float,
                reason: str | None = None) -> Decimal | None:
        if metric in _RATE_KIND:
            return self.rate(_RATE_KIND[metric], scope.value, key or "", now_s, reason or "")
        if metric == "heartbeat_age":
            return self.heartbeat_age(now_s)
        return self.book_figure(metric, scope, key, now_s)

    def keys(self, scope: KillScope, now_s: float) -> list[str]:
        """Every key of a scope the watcher has seen (what a rule with key "*" is evaluated for)."""
        if scope is KillScope.ACCOUNT:
            return sorted(self.accounts | {a for a, _ in self.positions})
        if scope is KillScope.SYMBOL:
            syms = {s for _, s in self.positions}
            syms.update(k for _, c in self._buckets for (_, sc, k, _) in c if sc == "symbol")
            return sorted(syms)
        if scope is KillScope.VENUE:
            return [v.name for v in Venue if v is not Venue.NONE]
        return [""]

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """The figures per account and firm, as JSON (decimal text; null = no reading)."""
        def fig(scope: KillScope, key: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for m in ("realized_pnl", "unrealized_pnl", "pnl", "gross_exposure", "net_exposure", "concentration"):
                v = self.book_figure(m, scope, key, now_s)
                out[m] = None if v is None else format(round(v, 4), "f")
            for m, kind in _RATE_KIND.items():
                out[m] = format(self.rate(kind, scope.value, key or "", now_s), "f")
            self._expire(now_s)
            reasons: Counter[str] = Counter()
            for _, c in self._buckets:
                for (kind, sc, k, why), n in c.items():
                    if kind == "reject" and why and sc == scope.value and k == (key or ""):
                        reasons[why] += n
            out["rejects_by_reason"] = {r: format(Decimal(n) / Decimal(str(self.rate_window_s)), "f")
                                        for r, n in sorted(reasons.items())}
            return out

        return {
            "seeded": self.seeded,
            "events": self.events,
            "fills": self.fills,
            "firm": fig(KillScope.FIRM, None),
            "accounts": {a: fig(KillScope.ACCOUNT, a) for a in self.keys(KillScope.ACCOUNT, now_s)},
            "heartbeat_age_s": {n: round(now_s - t, 3) for n, t in sorted(self.heartbeats.items())},
            "telemetry_age_s": None if self.last_telemetry_s is None else round(now_s - self.last_telemetry_s, 3),
            "marks": {"symbols": len(self.marks),
                      "stale": sorted(s for s in self.marks if self._mark(s, now_s) is None)},
        }
