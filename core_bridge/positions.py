"""Real-time post-trade view (SEC 15c3-5(c)(2)(iv)): positions and exposure per account and symbol,
maintained from captured fills.

Why here: the rule asks for post-trade surveillance fed by the firm's own execution reports *immediately*
after execution; the capture sees every fill once, in sequence order, so it keeps this view as it appends.
Quantities and notionals are exact integers (prices in PRICE_SCALE fixed point); exposure is
|net position| x last fill price. Sells and short sales count negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventType, Side, from_fixed


@dataclass
class PositionRow:
    account: str
    symbol: str
    net_qty: int = 0
    bought_qty: int = 0
    sold_qty: int = 0
    buy_notional: int = 0  # sum(last_qty * last_px), PRICE_SCALE fixed point
    sell_notional: int = 0
    last_px: int = 0
    fills: int = 0

    @property
    def exposure(self) -> int:
        """Gross exposure of this position at the last fill price, fixed point."""
        return abs(self.net_qty) * self.last_px

    def to_dict(self) -> dict[str, object]:
        return {
            "account": self.account,
            "symbol": self.symbol,
            "net_qty": self.net_qty,
            "bought_qty": self.bought_qty,
            "sold_qty": self.sold_qty,
            "buy_notional": from_fixed(self.buy_notional),
            "sell_notional": from_fixed(self.sell_notional),
            "last_px": from_fixed(self.last_px),
            "exposure": from_fixed(self.exposure),
            "fills": self.fills,
        }


_FILLED = int(EventType.ORDER_FILLED)


class PositionBook:
    """Positions by (account, symbol), updated a batch at a time: numpy group-by, then one vectorised
    add into a table of rows (the only per-group Python is a dict lookup of the row)."""

    _COLS = 6  # bought, sold, buy_notional, sell_notional, last_px, fills

    def __init__(self) -> None:
        self._row_of: dict[tuple[int, int], int] = {}
        self._keys: list[tuple[int, int]] = []
        self._vals = np.zeros((64, self._COLS), dtype=np.int64)
        self.fills = 0
        self.as_of: tuple[int, int] = (0, 0)  # (epoch, seq) of the last record folded in

    def _new_row(self, key: tuple[int, int]) -> int:
        row = len(self._keys)
        if row == len(self._vals):
            self._vals = np.concatenate([self._vals, np.zeros_like(self._vals)])
        self._keys.append(key)
        self._row_of[key] = row
        return row

    def apply(self, records: np.ndarray) -> int:
        """Fold the fills of one batch (in sequence order) into the book; returns how many fills it held."""
        return self.apply_many([records])

    def apply_many(self, batches: list[np.ndarray]) -> int:
        """Fold several consecutive batches at once: the per-group work is paid once, not per batch."""
        cols: list[list[np.ndarray]] = [[], [], [], [], []]
        for records in batches:
            if records.dtype != EVENT_DTYPE:
                raise TypeError(f"records must have EVENT_DTYPE, got {records.dtype}")
            idx = np.flatnonzero(records["etype"] == _FILLED)
            if not len(idx):
                continue
            # Column by column with integer takes: copying whole 128-byte structured records is far slower.
            # Keys are the 8 ASCII bytes read as integers, grouped by one stable lexsort (no string sorting).
            cols[0].append(records["account"].view("<u8")[idx])
            cols[1].append(records["symbol"].view("<u8")[idx])
            cols[2].append(records["last_qty"][idx])
            cols[3].append(records["last_px"][idx])
            cols[4].append(records["side"][idx])
        last = batches[-1] if batches else None
        if last is not None and len(last):
            self.as_of = (int(last["epoch"][-1]), int(last["seq"][-1]))
        if not cols[0]:
            return 0
        acct, sym, qty_u, px_u, side = (np.concatenate(c) for c in cols)
        qty = qty_u.astype(np.int64)
        px = px_u.astype(np.int64)
        sell = (side != Side.BUY).astype(np.int64)
        n = len(qty)
        order = np.lexsort((sym, acct))
        a_s, s_s = acct[order], sym[order]
        starts = np.flatnonzero(np.r_[True, (a_s[1:] != a_s[:-1]) | (s_s[1:] != s_s[:-1])])
        sold_q = qty * sell
        notional = qty * px
        sold_n = notional * sell
        sums = np.add.reduceat(np.stack([qty - sold_q, sold_q, notional - sold_n, sold_n])[:, order], starts, axis=1)
        ends = np.r_[starts[1:], n]
        get = self._row_of.get
        rows = np.array([r if (r := get(k)) is not None else self._new_row(k)
                         for k in zip(a_s[starts].tolist(), s_s[starts].tolist(), strict=True)], dtype=np.intp)
        vals = self._vals
        vals[rows, 0:4] += sums.T
        vals[rows, 4] = px[order[ends - 1]]  # lexsort is stable: a group's last element is its latest fill
        vals[rows, 5] += ends - starts
        self.fills += n
        return n

    @staticmethod
    def _text(key: int) -> str:
        return key.to_bytes(8, "little").rstrip(b"\x00").decode("ascii", "replace")

    @property
    def rows(self) -> dict[tuple[str, str], PositionRow]:
        """Every position as a PositionRow, keyed by (account, symbol)."""
        out: dict[tuple[str, str], PositionRow] = {}
        for (a, s), r in self._row_of.items():
            b, sd, bn, sn, last, fills = (int(v) for v in self._vals[r])
            key = (self._text(a), self._text(s))
            out[key] = PositionRow(key[0], key[1], b - sd, b, sd, bn, sn, last, fills)
        return out

    def accounts(self) -> dict[str, dict[str, str | int]]:
        """Per-account gross and net exposure (decimal strings) and open positions."""
        out: dict[str, dict[str, int]] = {}
        for row in self.rows.values():
            acc = out.setdefault(row.account, {"gross": 0, "net": 0, "positions": 0})
            acc["gross"] += row.exposure
            acc["net"] += row.net_qty * row.last_px
            acc["positions"] += 1 if row.net_qty else 0
        return {
            a: {"gross_exposure": from_fixed(v["gross"]), "net_exposure": from_fixed(v["net"]),
                "open_positions": v["positions"]}
            for a, v in sorted(out.items())
        }

    def to_state(self) -> dict[str, object]:
        """Exact integer state, for a checkpoint a restarted capture resumes from (see from_state)."""
        rows = [[a, s, *(int(v) for v in self._vals[r])] for (a, s), r in self._row_of.items()]
        return {"as_of": list(self.as_of), "fills": self.fills, "rows": rows}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> PositionBook:
        book = cls()
        as_of = state["as_of"]
        rows = state["rows"]
        if not isinstance(as_of, list) or not isinstance(rows, list):
            raise ValueError("position checkpoint: as_of and rows must be lists")
        book.as_of = (int(as_of[0]), int(as_of[1]))
        book.fills = int(state.get("fills", 0))  # type: ignore[call-overload]
        for a, s, *vals in rows:
            r = book._new_row((int(a), int(s)))
            book._vals[r] = [int(v) for v in vals]
        return book

    def snapshot(self) -> list[dict[str, object]]:
        rows = self.rows
        return [rows[k].to_dict() for k in sorted(rows)]


def book_from_batches(batches: Iterable[np.ndarray]) -> PositionBook:
    """Rebuild the view from journal batches (e.g. at capture start, or for `corectl journal stats`)."""
    book = PositionBook()
    for recs in batches:
        book.apply(recs)
    return book

