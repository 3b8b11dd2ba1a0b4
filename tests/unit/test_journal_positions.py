"""Post-trade view (15c3-5(c)(2)(iv)) folded from captured fills, table style."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core_bridge.positions import PositionBook, book_from_batches
from core_bridge.protocol import EVENT_DTYPE, EventType, Side


def fills(rows: list[tuple[str, str, Side, int, int]], etype: EventType = EventType.ORDER_FILLED) -> np.ndarray:
    recs = np.zeros(len(rows), dtype=EVENT_DTYPE)
    recs["seq"] = np.arange(1, len(rows) + 1)
    recs["etype"] = etype
    for i, (acct, sym, side, qty, px) in enumerate(rows):
        recs[i]["account"] = acct.encode()
        recs[i]["symbol"] = sym.encode()
        recs[i]["side"] = side
        recs[i]["last_qty"] = qty
        recs[i]["last_px"] = px
    return recs


@pytest.mark.parametrize(
    "rows,expected",
    [
        ([("A", "X", Side.BUY, 100, 10_0000)], [("A", "X", 100, "1000", "10")]),
        ([("A", "X", Side.BUY, 100, 10_0000), ("A", "X", Side.SELL, 100, 11_0000)], [("A", "X", 0, "0", "11")]),
        ([("A", "X", Side.SHORT, 30, 2_5000), ("A", "X", Side.SHORT_EXEMPT, 20, 2_4000)],
         [("A", "X", -50, "120", "2.4")]),
        ([("B", "Y", Side.BUY, 1, 1), ("A", "X", Side.BUY, 2, 3)], [("A", "X", 2, "0.0006", "0.0003"),
                                                                   ("B", "Y", 1, "0.0001", "0.0001")]),
    ],
)
def test_apply_when_fills_then_net_qty_exposure_and_last_px(rows: list, expected: list) -> None:
    book = PositionBook()
    book.apply(fills(rows))
    got = [(r["account"], r["symbol"], r["net_qty"], r["exposure"], r["last_px"]) for r in book.snapshot()]
    assert got == expected


def test_apply_when_batches_split_then_same_as_one_batch() -> None:
    rng = np.random.default_rng(3)
    rows = [(f"A{rng.integers(3)}", f"S{rng.integers(4)}", Side(int(rng.integers(1, 5))), int(rng.integers(1, 500)),
             int(rng.integers(1, 10**7))) for _ in range(300)]
    recs = fills(rows)
    one = PositionBook()
    one.apply(recs)
    split = book_from_batches([recs[:7], recs[7:150], recs[150:]])
    assert one.snapshot() == split.snapshot()
    assert one.accounts() == split.accounts()
    assert sum(r["fills"] for r in one.snapshot()) == 300


def test_apply_when_not_fills_then_ignored() -> None:
    book = PositionBook()
    assert book.apply(fills([("A", "X", Side.BUY, 100, 1)], EventType.ORDER_NEW)) == 0
    assert book.snapshot() == [] and book.accounts() == {}


def test_from_state_when_round_tripped_then_identical_and_keeps_folding() -> None:
    recs = fills([("A", "X", Side.BUY, 100, 10_0000), ("B", "Y", Side.SHORT, 5, 3_0000)])
    recs["epoch"] = 4
    book = PositionBook()
    book.apply(recs)
    again = PositionBook.from_state(json.loads(json.dumps(book.to_state())))
    assert again.snapshot() == book.snapshot() and again.as_of == (4, 2) and again.fills == 2
    more = fills([("A", "X", Side.SELL, 40, 11_0000)])
    book.apply(more)
    again.apply(more)
    assert again.snapshot() == book.snapshot()
