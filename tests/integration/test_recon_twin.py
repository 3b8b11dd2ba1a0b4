"""A simulated twin-core day, its drop copy loaded through the store's loader, and the clearing twin's own EOD
files (publish_eod) reconcile clean; a core/journal divergence injected on the core's snapshot is the only
break reported."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from core_bridge.protocol import Side
from flows.recon import scenarios
from flows.recon.frames import POSITION_COLUMNS, conform
from flows.recon.inputs import fetch_inputs
from flows.recon.reconcile import journal_positions, reconcile
from flows.recon.scenarios import ScenarioDay
from flows.recon.synthetic import fills_from_events
from flows.store.db import make_engine
from flows.store.loader import load_events
from hw.clearing_twin.book import Fill
from hw.clearing_twin.publisher import publish_eod
from hw.refdata import SECURITIES_BY_CUSIP, SECURITIES_BY_SYMBOL
from hw.twin.market import simulate_day
from tests.integration.recon_world import DAY, NEXT, seed_store

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def test_twin_day_when_reconciled_against_clearing_twin_files_then_clean_and_injected_core_break_exact(
        tmp_path: Path, ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core_bridge.settings import load_settings

    sim = simulate_day(DAY.isoformat(), 400, 3)
    fills = fills_from_events(sim.events, DAY.isoformat())
    assert len(fills) > 20
    eod = journal_positions(fills.iloc[0:0][["account", "cusip"]].assign(qty=0), fills)
    core_td = {(a, SECURITIES_BY_CUSIP[c].symbol): q for a, c, q in eod.itertuples(index=False)}
    sod_book: dict[str, dict[str, int]] = {}
    for acct, held in sim.positions.items():  # SOD = the twin's EOD less the day's fills
        for sym, q in held.items():
            sod_book.setdefault(acct, {})[sym] = q - core_td.get((acct, sym), 0)
    sod_book = {a: {s: q for s, q in h.items() if q} for a, h in sod_book.items()}
    sod_rows = [(a, s, q) for a, h in sod_book.items() for s, q in h.items()]
    sod = conform(pd.DataFrame([(a, SECURITIES_BY_SYMBOL[s].cusip, q) for a, s, q in sod_rows],
                               columns=["account", "cusip", "qty"]), POSITION_COLUMNS, "sod")

    db_url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    seed_store(db_url, DAY, sod, fills.iloc[0:0])
    engine = make_engine(db_url)
    load_events(engine, sim.events)
    clearer = tmp_path / "clearer"
    twin_fills = [Fill(int(r.exec_id), int(r.order_id), int(r.ts_ns), r.account, r.symbol,
                       Side.BUY if r.side == 1 else Side.SELL, int(r.qty), int(r.price))
                  for r in fills.itertuples(index=False)]
    publish_eod(clearer, DAY, sod_book, twin_fills, NEXT)
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_bytes(orjson.dumps({"positions": sim.positions}))
    monkeypatch.setenv("COLO_OPS_CLEARING_LOCAL_DIR", str(clearer))
    monkeypatch.setenv("COLO_OPS_RECON_CORE_SOURCE", f"file:{snapshot}")
    try:
        inputs, _ = fetch_inputs(DAY, load_settings(), engine)
        clean = reconcile(inputs)
        assert clean.breaks.empty, clean.breaks[["btype", "key", "detail"]].to_string()
        assert clean.stats["matched_by_exec_id"] == len(fills)

        day = scenarios.core_diverges(ScenarioDay(DAY.isoformat(), inputs.clearing_positions,
                                                  inputs.clearing_trades, sim.positions))
        snapshot.write_bytes(orjson.dumps({"positions": day.core_positions}))
        inputs, _ = fetch_inputs(DAY, load_settings(), engine)
        broken = reconcile(inputs)
        assert sorted(zip(broken.breaks["btype"], broken.breaks["key"], strict=True)) == sorted(day.expected)
    finally:
        engine.dispose()
