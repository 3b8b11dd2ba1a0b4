"""A small reconciliation world on disk and in a real database: SOD and the journal's events loaded through the
store's own loader, the clearer's EOD files written by the clearing twin's writers, the core's snapshot as
JSON. Breaks are injected with flows.recon.scenarios before the files are written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from core_bridge.protocol import EventType, Side, new_events
from flows.dates import ny_time_ns
from flows.recon import scenarios
from flows.recon.frames import POSITION_COLUMNS, conform
from flows.recon.scenarios import ScenarioDay
from flows.recon.synthetic import consistent_day, random_fills
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.loader import load_events
from flows.store.models import IngestedFile, SodPosition
from hw.clearing_twin import files
from hw.refdata import ACCOUNTS_BY_ID, SECURITIES, SECURITIES_BY_CUSIP

DAY = dt.date(2026, 11, 20)  # Friday session; settles Monday 11-23
NEXT = dt.date(2026, 11, 23)
CUSIPS = {s.symbol: s.cusip for s in SECURITIES}
SOD_ROWS = [("PROP01", CUSIPS["AAPL"], 500), ("PROP02", CUSIPS["T"], -300), ("PROP03", CUSIPS["IBM"], 1000),
            ("PROP01", CUSIPS["T"], 200)]


@dataclass
class World:
    root: Path  # the clearer's served directory
    snapshot: Path
    db_url: str


def fills_for(day: dt.date, n: int, seed: int) -> pd.DataFrame:
    """Fills from 15:00 New York one second apart, the last one at 17:30 (after the default 17:00 cutoff)."""
    f = random_fills(day.isoformat(), n, seed, ny_time_ns(day, 15))
    f.loc[f.index[-1], "ts_ns"] = ny_time_ns(day, 17, 30)
    return f


def events_from_fills(fills: pd.DataFrame, epoch: int, first_seq: int) -> np.ndarray:
    ev = new_events(len(fills))
    ev["seq"] = np.arange(first_seq, first_seq + len(fills))
    ev["epoch"] = epoch
    ev["etype"] = EventType.ORDER_FILLED
    ev["ts_ns"] = fills["ts_ns"].to_numpy()
    ev["account"] = fills["account"].to_numpy().astype("S8")
    ev["symbol"] = fills["symbol"].to_numpy().astype("S8")
    ev["side"] = np.where(fills["side"].to_numpy() == 1, int(Side.BUY), int(Side.SELL))
    ev["qty"] = fills["qty"].to_numpy()
    ev["last_qty"] = fills["qty"].to_numpy()
    ev["price"] = fills["price"].to_numpy()
    ev["last_px"] = fills["price"].to_numpy()
    ev["order_id"] = fills["order_id"].astype("int64").to_numpy()
    ev["exec_id"] = fills["exec_id"].astype("int64").to_numpy()
    ev["venue"] = 1
    return ev


def seed_store(db_url: str, day: dt.date, sod: pd.DataFrame, fills: pd.DataFrame, epoch: int = 1,
               first_seq: int = 1) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        with session_scope(engine) as s:
            f = IngestedFile(source="clearing.positions", name=f"sod_positions_{day:%Y%m%d}.txt", business_date=day,
                             sha256=f"{day:%Y%m%d}".ljust(64, "0"), size=1, status="loaded", records=len(sod),
                             loaded_at=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
            s.add(f)
            s.flush()
            for acct, cusip, qty in sod.itertuples(index=False):
                s.add(SodPosition(business_date=day, account=acct, cusip=cusip,
                                  symbol=SECURITIES_BY_CUSIP[cusip].symbol, td_qty=int(qty), sd_qty=int(qty),
                                  price=SECURITIES_BY_CUSIP[cusip].ref_price, file_id=f.id))
        if len(fills):
            load_events(engine, events_from_fills(fills, epoch, first_seq))
    finally:
        engine.dispose()


def write_clearing(root: Path, day: dt.date, cday: ScenarioDay, *, extra_trades: pd.DataFrame | None = None) -> None:
    """The clearer's EOD positions and trade file for `day`, byte-for-byte as the clearing twin writes them."""
    out = root / "outgoing" / f"{day:%Y%m%d}"
    out.mkdir(parents=True, exist_ok=True)
    run_ts = dt.datetime(day.year, day.month, day.day, 22, tzinfo=dt.UTC)
    symbol_of = {s.cusip: s.symbol for s in SECURITIES} | {scenarios.NEW_CUSIP: scenarios.NEW_SYMBOL}
    p = cday.clearing_positions.sort_values(["account", "cusip"])
    rows = [files.PositionRow(ACCOUNTS_BY_ID[a].clearing_account, c, symbol_of[c], int(td), int(sd), 1_000_000)
            for a, c, td, sd in p[["account", "cusip", "td_qty", "sd_qty"]].itertuples(index=False)]
    (out / f"eod_positions_{day:%Y%m%d}.txt").write_bytes(files.positions_file("EOD", day, rows, run_ts))
    t = cday.clearing_trades if extra_trades is None else pd.concat([extra_trades, cday.clearing_trades])
    trows = [
        files.TradeRow(
            timestamp_ms=int(r.ts_ns) // 1_000_000, client_trade_id=f"T-{r.exec_id}",
            trade_date=dt.date.fromisoformat(r.trade_date), clearing_account=ACCOUNTS_BY_ID[r.account].clearing_account,
            quantity=int(r.qty), price=int(r.price), symbol=r.symbol, cusip=r.cusip,
            direction="buy" if r.side == 1 else "sell", qualifier="", mic="XNAS", order_id=int(r.order_id),
            exec_id=int(r.exec_id), locate_id="", locate_source="",
            settlement_date=dt.date.fromisoformat(r.settle_date),
        )
        for r in t.itertuples(index=False)
    ]
    (out / f"trades_{day:%Y%m%d}.csv").write_bytes(files.trades_file(day, trows, run_ts))


def make_world(tmp: Path, db_url: str, names: list[str], monkeypatch: pytest.MonkeyPatch | None = None
               ) -> tuple[World, ScenarioDay, pd.DataFrame]:
    """Day 1 seeded, clearer files and core snapshot written with `names` injected; returns the injected day."""
    sod = conform(pd.DataFrame(SOD_ROWS, columns=["account", "cusip", "qty"]), POSITION_COLUMNS, "sod")
    fills = fills_for(DAY, 40, 5)
    seed_store(db_url, DAY, sod, fills)
    cday = scenarios.inject(consistent_day(DAY.isoformat(), NEXT.isoformat(), sod, fills), names)
    world = World(tmp / "clearer", tmp / "core_snapshot.json", db_url)
    write_clearing(world.root, DAY, cday)
    world.snapshot.write_bytes(orjson.dumps({"positions": cday.core_positions}))
    if monkeypatch is not None:
        monkeypatch.setenv("COLO_OPS_DB_URL", db_url)
        monkeypatch.setenv("COLO_OPS_CLEARING_LOCAL_DIR", str(world.root))
        monkeypatch.setenv("COLO_OPS_RECON_CORE_SOURCE", f"file:{world.snapshot}")
        monkeypatch.setenv("COLO_OPS_RECON_CUTOFF", "17:00")
        if cday.corporate_actions is not None and len(cday.corporate_actions):
            ca = tmp / "corporate_actions.csv"
            cday.corporate_actions.to_csv(ca, index=False)
            monkeypatch.setenv("COLO_OPS_RECON_CORPORATE_ACTIONS_FILE", str(ca))
    return world, cday, fills
