"""A consistent three-source day built from fills: what the twins produce when nothing is broken.

Used by tests, the scenarios and the benchmark. `fills_from_events` turns the twin core's drop-copy records
into the journal's fill frame; `consistent_day` derives the clearer's files and the core's snapshot the same
way the clearing twin and the core do (EOD = SOD + fills; SD = TD − today's unsettled fills).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core_bridge.protocol import EventType, Side
from flows.recon.frames import CLEARING_TRADE_COLUMNS, EXEC_COLUMNS, POSITION_COLUMNS, conform
from flows.recon.reconcile import journal_positions
from flows.recon.scenarios import ScenarioDay
from hw.refdata import ACCOUNTS, SECURITIES, SECURITIES_BY_SYMBOL


def fills_from_events(events: np.ndarray, trade_date: str) -> pd.DataFrame:
    """ORDER_FILLED drop-copy records as the journal's fill frame (frames.EXEC_COLUMNS)."""
    f = events[events["etype"] == EventType.ORDER_FILLED]
    symbols = np.char.decode(f["symbol"], "ascii")
    frame = pd.DataFrame(
        {
            "exec_id": f["exec_id"].astype(str),
            "order_id": f["order_id"].astype(str),
            "account": np.char.decode(f["account"], "ascii"),
            "cusip": [SECURITIES_BY_SYMBOL[s].cusip for s in symbols],
            "symbol": symbols,
            "side": np.where(f["side"] == Side.BUY, 1, -1).astype(np.int8),
            "qty": f["last_qty"].astype(np.int64),
            "price": f["last_px"].astype(np.int64),
            "ts_ns": f["ts_ns"].astype(np.int64),
            "trade_date": trade_date,
        }
    )
    return conform(frame, EXEC_COLUMNS, "journal fills")


def random_fills(trade_date: str, n: int, seed: int, start_ns: int) -> pd.DataFrame:
    """Deterministic synthetic fills (for tests that need no twin): round lots, cent prices, rising times."""
    rng = np.random.default_rng(seed)
    secs = [SECURITIES[i] for i in rng.integers(0, len(SECURITIES), n)]
    frame = pd.DataFrame(
        {
            "exec_id": [f"{900000 + seed * 10000 + i}" for i in range(n)],
            "order_id": [f"{500000 + seed * 10000 + i // 2}" for i in range(n)],
            "account": [ACCOUNTS[i].account for i in rng.integers(0, len(ACCOUNTS), n)],
            "cusip": [s.cusip for s in secs],
            "symbol": [s.symbol for s in secs],
            "side": rng.choice(np.array([1, -1], dtype=np.int8), n),
            "qty": rng.integers(1, 10, n).astype(np.int64) * 100,
            "price": np.array([s.ref_price for s in secs], dtype=np.int64) + rng.integers(-50, 50, n) * 100,
            "ts_ns": start_ns + np.arange(n, dtype=np.int64) * 1_000_000_000,
            "trade_date": trade_date,
        }
    )
    return conform(frame, EXEC_COLUMNS, "synthetic fills")


def consistent_day(trade_date: str, settle_date: str, sod: pd.DataFrame, fills: pd.DataFrame) -> ScenarioDay:
    """The clearer's EOD files and the core snapshot that agree with SOD + `fills`."""
    sod = conform(sod, POSITION_COLUMNS, "sod")
    td = journal_positions(sod, fills)
    net_today = journal_positions(sod.iloc[0:0], fills).rename(columns={"qty": "unsettled"})
    pos = td.merge(net_today, on=["account", "cusip"], how="outer").fillna(0)
    pos["td_qty"] = pos["qty"].astype("int64")
    pos["sd_qty"] = (pos["qty"] - pos["unsettled"]).astype("int64")
    by_cusip = {s.cusip: s.symbol for s in SECURITIES}
    pos["symbol"] = pos["cusip"].map(lambda c: by_cusip.get(c, "")).astype("str")
    pos = pos[["account", "cusip", "symbol", "td_qty", "sd_qty"]].reset_index(drop=True)
    trades = conform(fills.assign(settle_date=settle_date), CLEARING_TRADE_COLUMNS, "clearer trades")
    core: dict[str, dict[str, int]] = {}
    for acct, cusip, qty in td.itertuples(index=False):
        core.setdefault(acct, {})[by_cusip[cusip]] = int(qty)
    return ScenarioDay(trade_date, pos, trades, core)
