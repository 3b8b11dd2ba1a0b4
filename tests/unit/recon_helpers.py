"""Small hand-made frames for the recon unit tests (table-style cases read better with explicit rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from flows.recon.frames import (
    CLEARING_POSITION_COLUMNS,
    CLEARING_TRADE_COLUMNS,
    EXEC_COLUMNS,
    POSITION_COLUMNS,
    conform,
    empty,
)
from flows.recon.reconcile import ReconInputs
from hw.refdata import SECURITIES

D = "2026-11-20"  # a Friday session
SD = "2026-11-23"  # its T+1 settlement date
AAPL = SECURITIES[0].cusip
MSFT = SECURITIES[1].cusip
SYMBOLS = {s.cusip: s.symbol for s in SECURITIES}
CUSIPS = {s.symbol: s.cusip for s in SECURITIES}
T0 = 1_795_700_000_000_000_000  # some UTC ns on the day; the cutoff in these tests is T0 + 1e12
CUTOFF = T0 + 1_000_000_000_000


def fill(exec_id: str, *, order: str = "1", acct: str = "PROP01", cusip: str = AAPL, side: int = 1, qty: int = 100,
         price: int = 2_300_000, ts: int = T0, date: str = D) -> dict[str, Any]:
    return {"exec_id": exec_id, "order_id": order, "account": acct, "cusip": cusip, "symbol": SYMBOLS.get(cusip, ""),
            "side": side, "qty": qty, "price": price, "ts_ns": ts, "trade_date": date}


def execs(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return conform(pd.DataFrame(list(rows)), EXEC_COLUMNS, "test") if rows else empty(EXEC_COLUMNS)


def ctrades(rows: Sequence[Mapping[str, Any]], settle: str = SD) -> pd.DataFrame:
    if not rows:
        return empty(CLEARING_TRADE_COLUMNS)
    return conform(pd.DataFrame([dict(r) | {"settle_date": r.get("settle_date", settle)} for r in rows]),
                   CLEARING_TRADE_COLUMNS, "test")


def pos(rows: Sequence[tuple[str, str, int]]) -> pd.DataFrame:
    if not rows:
        return empty(POSITION_COLUMNS)
    return conform(pd.DataFrame(rows, columns=["account", "cusip", "qty"]), POSITION_COLUMNS, "test")


def cpos(rows: Sequence[tuple[str, str, int, int]]) -> pd.DataFrame:
    if not rows:
        return empty(CLEARING_POSITION_COLUMNS)
    return conform(pd.DataFrame(rows, columns=["account", "cusip", "td_qty", "sd_qty"]), CLEARING_POSITION_COLUMNS,
                   "test")


def inputs(*, sod: pd.DataFrame | None = None, internal: pd.DataFrame | None = None,
           cpositions: pd.DataFrame | None = None, ctrade: pd.DataFrame | None = None,
           core: pd.DataFrame | None = None, **kw: Any) -> ReconInputs:
    return ReconInputs(
        trade_date=kw.pop("trade_date", D),
        sod_positions=sod if sod is not None else pos([]),
        internal_execs=internal if internal is not None else execs([]),
        clearing_positions=cpositions if cpositions is not None else cpos([]),
        clearing_trades=ctrade if ctrade is not None else ctrades([]),
        core_positions=core if core is not None else pos([]),
        cutoff_ns=kw.pop("cutoff_ns", CUTOFF),
        settle_dates=kw.pop("settle_dates", {D: SD, "2026-11-19": "2026-11-20"}),
        symbols=SYMBOLS,
        **kw,
    )


def found(result: Any) -> list[tuple[str, str]]:
    return sorted(zip(result.breaks["btype"], result.breaks["key"], strict=True))
