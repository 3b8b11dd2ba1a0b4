"""One business day's reconciliation as a pure function: inputs (frames) in, breaks and resolutions out.

The Prefect flow fetches the inputs (and fails closed when one is missing), calls `reconcile`, stores and
reports. Nothing here reads a clock, a file, the DB or the network, so tests drive it table-style.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from flows.errors import ReconError
from flows.recon import autoresolve, matching, witness
from flows.recon.frames import (
    BREAK_COLUMNS,
    CLEARING_POSITION_COLUMNS,
    CLEARING_TRADE_COLUMNS,
    CORP_ACTION_COLUMNS,
    EXEC_COLUMNS,
    KEY,
    POSITION_COLUMNS,
    check_unique,
    conform,
    empty,
)


@dataclass(frozen=True)
class ReconInputs:
    trade_date: str  # YYYY-MM-DD business date
    sod_positions: pd.DataFrame  # POSITION_COLUMNS: start-of-day positions the day began with
    internal_execs: pd.DataFrame  # EXEC_COLUMNS: the day's fills from the journal
    clearing_positions: pd.DataFrame  # CLEARING_POSITION_COLUMNS: the clearer's EOD file
    clearing_trades: pd.DataFrame  # CLEARING_TRADE_COLUMNS: the clearer's trade file
    core_positions: pd.DataFrame  # POSITION_COLUMNS: the core's own snapshot
    cutoff_ns: int  # the clearer's trade-file cutoff, UTC ns
    settle_dates: Mapping[str, str]  # trade date -> T+1 settlement date, for every trade date in the files
    symbols: Mapping[str, str]  # CUSIP -> symbol (security master), for reports
    corporate_actions: pd.DataFrame = field(default_factory=lambda: empty(CORP_ACTION_COLUMNS))
    prior_unsettled: pd.DataFrame = field(default_factory=lambda: empty(EXEC_COLUMNS))  # earlier days' fills
    # not yet settled on trade_date (settlement-calendar holidays)
    prior_breaks: pd.DataFrame = field(default_factory=lambda: empty(BREAK_COLUMNS))  # see autoresolve
    price_tolerance: int = 0  # PRICE_SCALE units
    # The clearer's SD quantity at EOD D counts a trade settling on D as settled (True, the settlement-date
    # view) or not yet (False, a night-cycle view). prior_unsettled must be selected the same way.
    settled_at_settle_date_eod: bool = True
    # The clearer's FIX drop copy (flows.recon.intraday.DROPCOPY_COLUMNS): a third witness on execution breaks.
    dropcopy: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class ReconResult:
    trade_date: str
    breaks: pd.DataFrame  # today's findings (BREAK_COLUMNS), sorted by (btype, key)
    resolutions: pd.DataFrame  # prior breaks closed by a rule today (autoresolve.RESOLUTION_COLUMNS)
    stats: dict[str, int]


def journal_positions(sod: pd.DataFrame, execs: pd.DataFrame) -> pd.DataFrame:
    """Trade-date positions derived from SOD + the day's fills (flat keys dropped)."""
    parts = [sod[KEY + ["qty"]]]
    if len(execs):
        parts.append(execs[KEY].assign(qty=execs["side"].to_numpy(np.int64) * execs["qty"].to_numpy(np.int64)))
    allp = pd.concat(parts, ignore_index=True)
    out = allp.groupby(KEY, as_index=False, sort=True)["qty"].sum()
    out = out.loc[out["qty"] != 0].reset_index(drop=True)
    return out.astype({"qty": "int64"})


def core_positions_frame(positions: Mapping[str, Mapping[str, int]], cusips: Mapping[str, str]) -> pd.DataFrame:
    """The core snapshot's {account: {symbol: qty}} as a positions frame; an unknown symbol fails the run."""
    rows = []
    for acct in sorted(positions):
        for sym in sorted(positions[acct]):
            if sym not in cusips:
                raise ReconError(f"core snapshot: account {acct} symbol {sym!r} is not in the security master")
            q = positions[acct][sym]
            if not isinstance(q, int) or isinstance(q, bool):
                raise ReconError(f"core snapshot: account {acct} symbol {sym}: quantity {q!r} is not an integer")
            rows.append((acct, cusips[sym], q))
    frame = pd.DataFrame(rows, columns=["account", "cusip", "qty"])
    return conform(frame, POSITION_COLUMNS, "core snapshot")


def _validated(inp: ReconInputs) -> ReconInputs:
    # Positions frames are checked for duplicate keys inside matching.position_table (cheaper on 1M rows).
    checks: tuple[tuple[str, dict[str, Any], list[str]], ...] = (
        ("sod_positions", POSITION_COLUMNS, []),
        ("internal_execs", EXEC_COLUMNS, ["exec_id"]),
        ("clearing_positions", CLEARING_POSITION_COLUMNS, []),
        ("clearing_trades", CLEARING_TRADE_COLUMNS, ["exec_id"]),
        ("core_positions", POSITION_COLUMNS, []),
        ("corporate_actions", CORP_ACTION_COLUMNS, ["old_cusip"]),
        ("prior_unsettled", EXEC_COLUMNS, ["exec_id"]),
    )
    fixed = {}
    for name, cols, unique in checks:
        frame = conform(getattr(inp, name), cols, name)
        if unique:
            check_unique(frame, unique, name)
        fixed[name] = frame
    if not bool(fixed["corporate_actions"]["ratio_den"].gt(0).all()):
        raise ReconError("corporate_actions: ratio_den must be positive")
    for name in ("internal_execs", "clearing_trades"):
        bad = ~fixed[name]["side"].isin([1, -1])
        if bool(bad.any()):
            raise ReconError(f"{name}: row {int(bad.to_numpy().argmax()) + 1} column side: must be +1 or -1")
    missing_sd = set(fixed["clearing_trades"]["trade_date"]) - set(inp.settle_dates)
    if missing_sd:
        raise ReconError(f"no settlement date for trade date(s) {', '.join(sorted(missing_sd))}")
    return ReconInputs(**{**inp.__dict__, **fixed})


def reconcile(inputs: ReconInputs) -> ReconResult:
    """Phases in a fixed order: executions, timing arrivals, positions (TD, SD), core, continuation."""
    inp = _validated(inputs)
    d = inp.trade_date
    actions = matching.effective_actions(inp.corporate_actions, d)
    symbols = dict(inp.symbols) | dict(zip(actions["new_cusip"], actions["new_symbol"], strict=True))
    prior = inp.prior_breaks.loc[inp.prior_breaks["trade_date"] < d]

    # Phase 1: executions.
    execs = matching.map_exec_cusips(inp.internal_execs, actions)
    em = matching.match_executions(execs, inp.clearing_trades, inp.price_tolerance)
    field_breaks = matching.pair_field_breaks(d, em.pairs, inp.price_tolerance)
    arrived, clearing_only = autoresolve.timing_arrived(d, prior, em.clearing_only)
    internal_breaks = matching.unmatched_internal_breaks(d, em.internal_only, inp.cutoff_ns)
    clearing_breaks = matching.unmatched_clearing_breaks(d, clearing_only)
    sd_trade_breaks = matching.settle_date_breaks(d, inp.clearing_trades, inp.settle_dates)

    # Phases 2 and 3: positions and the core, compared under post-corporate-action identifiers.
    if len(actions):
        old = inp.sod_positions["cusip"].isin(actions["old_cusip"])
        old_fills = inp.internal_execs["cusip"].isin(actions["old_cusip"])
        held_old = journal_positions(inp.sod_positions.loc[old], inp.internal_execs.loc[old_fills])
    else:
        held_old = inp.sod_positions.iloc[0:0]
    ca_breaks = matching.corporate_action_breaks(d, held_old, actions, symbols)
    sod_m = matching.map_position_cusips(inp.sod_positions, actions, ["qty"])
    core_m = matching.map_position_cusips(inp.core_positions, actions, ["qty"])
    ct = inp.clearing_trades
    sd_of = ct["trade_date"].map(inp.settle_dates)
    still_open = (sd_of > d) if inp.settled_at_settle_date_eod else (sd_of >= d)
    unsettled_today = ct.loc[still_open.to_numpy()]
    unsettled = pd.concat([unsettled_today[list(EXEC_COLUMNS)], inp.prior_unsettled], ignore_index=True)
    table = matching.position_table(
        {"sod": (sod_m, "qty", "sod_positions"),
         "clearing_td": (inp.clearing_positions, "td_qty", "clearing_positions"),
         "clearing_sd": (inp.clearing_positions, "sd_qty", "clearing_positions"),
         "core": (core_m, "qty", "core_positions")},
        {"internal_trades": execs, "clearing_trades": inp.clearing_trades, "missing_internal": clearing_only,
         "unsettled": matching.map_exec_cusips(unsettled, actions)},
    )
    pos_breaks = matching.position_breaks(d, table, symbols)

    today = matching.concat_breaks(
        [field_breaks, internal_breaks, clearing_breaks, sd_trade_breaks, ca_breaks, pos_breaks]
    )
    today = witness.with_witness(today, inp.internal_execs, inp.clearing_trades, inp.dropcopy)
    today = autoresolve.continue_prior(today, prior)
    agrees = autoresolve.position_now_agrees(d, prior, today)
    resolutions = pd.concat([arrived, agrees], ignore_index=True).sort_values("break_id", ignore_index=True)
    stats = {
        "internal_execs": len(inp.internal_execs),
        "clearing_trades": len(inp.clearing_trades),
        "matched_by_exec_id": int((em.pairs["how"] == "exec_id").sum()),
        "matched_by_attributes": int((em.pairs["how"] == "attributes").sum()),
        "positions_compared": len(table),
        "breaks": len(today),
        "auto_resolved": len(resolutions),
    }
    return ReconResult(d, today, resolutions, stats)
