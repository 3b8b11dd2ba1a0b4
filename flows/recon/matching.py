"""Reconciliation math: pure, vectorised functions over the frames in flows/recon/frames.py.

Fixed phases (the nautilus_trader shape: pure functions, the flow only orchestrates):

1. Executions — journal fills vs the clearer's trade file. First by exec id (same account and CUSIP), then
   the leftovers by (order id, account, CUSIP, side, qty) with the price within a tolerance, pairing
   duplicates in a stable order. Matched pairs are compared field by field (side, qty, price); leftovers
   become MISSING_AT_CLEARING / TIMING_AFTER_CUTOFF (internal side) or MISSING_INTERNAL (clearer side).
2. Positions per (account, CUSIP), trade-date quantities. What phase 1 already explains is not reported
   twice: the position residual is (clearer TD − internal TD) − (clearer trades − internal fills) per key,
   which is zero when both sides' positions are SOD + their own trades. Settle-date quantities are checked
   against the T+1 settlement calendar: SD = TD − trades whose settlement date is after the business date.
3. Core — the core's own snapshot vs SOD + journal fills; a difference wholly explained by fills the
   journal lost (the clearer has them, the core has them) is that MISSING_INTERNAL, not a second break.

Every function returns a breaks frame (frames.BREAK_COLUMNS) with deterministic ids; none reads a clock,
a file or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flows.recon.breaks import BreakStatus, BreakType, break_id
from flows.recon.frames import BREAK_COLUMNS, KEY, empty, isin

PAIR_KEY = ["order_id", "account", "cusip", "side", "qty"]


def make_breaks(
    trade_date: str,
    btype: BreakType,
    keys: pd.Series | list[str],
    *,
    status: BreakStatus = BreakStatus.OPEN,
    level: str = "execution",
    **cols: object,
) -> pd.DataFrame:
    """A breaks frame with one row per key; `cols` are columns of BREAK_COLUMNS (scalars or sequences)."""
    keys = pd.Series(list(keys), dtype="str")
    n = len(keys)
    if n == 0:
        return empty(BREAK_COLUMNS)
    data: dict[str, object] = {
        "break_id": [break_id(trade_date, btype, k) for k in keys],
        "trade_date": trade_date,
        "btype": btype.value,
        "key": keys.to_numpy(),
        "level": level,
        "status": status.value,
    }
    for c, v in cols.items():
        if c not in BREAK_COLUMNS:
            raise KeyError(f"unknown break column {c}")
        data[c] = v.to_numpy() if isinstance(v, pd.Series) else v
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    for c, dtype in BREAK_COLUMNS.items():
        if c not in frame.columns:
            frame[c] = pd.Series([pd.NA] * n if dtype == "Int64" else [""] * n, dtype=dtype)
        else:
            frame[c] = frame[c].astype(dtype)
    return frame[list(BREAK_COLUMNS)]


def concat_breaks(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty(BREAK_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["btype", "key"], kind="stable", ignore_index=True)


# --- corporate actions ------------------------------------------------------------------------------------


def effective_actions(actions: pd.DataFrame, trade_date: str) -> pd.DataFrame:
    return actions.loc[actions["effective_date"] <= trade_date]


def map_exec_cusips(execs: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """Internal fills keyed on an identifier a corporate action retired are compared under the new one."""
    if actions.empty or execs.empty:
        return execs
    mapping = dict(zip(actions["old_cusip"], actions["new_cusip"], strict=True))
    out = execs.copy()
    out["cusip"] = out["cusip"].map(lambda c: mapping.get(c, c)).astype("str")
    return out


# --- phase 1: executions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecMatch:
    pairs: pd.DataFrame  # matched internal/clearer rows (suffixes _i / _c), with `how` = exec_id | attributes
    internal_only: pd.DataFrame
    clearing_only: pd.DataFrame


def match_executions(internal: pd.DataFrame, clearing: pd.DataFrame, price_tolerance: int = 0) -> ExecMatch:
    """Pair fills: by exec id (same account and CUSIP), then by order/account/CUSIP/side/qty within tolerance."""
    a = internal.merge(clearing, on=["exec_id", "account", "cusip"], how="inner", suffixes=("_i", "_c"))
    a["exec_id_i"] = a["exec_id"]
    a["exec_id_c"] = a["exec_id"]
    a["how"] = "exec_id"
    i_left = internal.loc[~isin(internal["exec_id"], a["exec_id"])]
    c_left = clearing.loc[~isin(clearing["exec_id"], a["exec_id"])]
    # Second pass on attributes. Rank duplicates of the same attributes (price order, then id) so two equal
    # fills of one order pair one-to-one, deterministically.
    i_rank = i_left.sort_values(PAIR_KEY + ["price", "exec_id"], kind="stable")
    c_rank = c_left.sort_values(PAIR_KEY + ["price", "exec_id"], kind="stable")
    i_rank = i_rank.assign(_n=i_rank.groupby(PAIR_KEY, sort=False).cumcount())
    c_rank = c_rank.assign(_n=c_rank.groupby(PAIR_KEY, sort=False).cumcount())
    b = i_rank.merge(c_rank, on=PAIR_KEY + ["_n"], how="inner", suffixes=("_i", "_c"))
    b = b.loc[(b["price_i"] - b["price_c"]).abs() <= price_tolerance]
    for col in PAIR_KEY:
        b[f"{col}_i"] = b[col]
        b[f"{col}_c"] = b[col]
    b["how"] = "attributes"
    pairs = pd.concat([a, b], ignore_index=True) if len(b) else a
    internal_only = internal.loc[~isin(internal["exec_id"], pairs["exec_id_i"])]
    clearing_only = clearing.loc[~isin(clearing["exec_id"], pairs["exec_id_c"])]
    return ExecMatch(pairs, internal_only.reset_index(drop=True), clearing_only.reset_index(drop=True))


def pair_field_breaks(trade_date: str, pairs: pd.DataFrame, price_tolerance: int = 0) -> pd.DataFrame:
    """SIDE / QTY / PRICE mismatches on fills matched by exec id (one break per differing field)."""
    if pairs.empty:
        return empty(BREAK_COLUMNS)
    p = pairs.loc[pairs["how"] == "exec_id"]
    out = []
    common = {
        "account": p["account"],
        "cusip": p["cusip"],
        "symbol": p["symbol_i"],
        "exec_id": p["exec_id"],
        "internal_qty": p["side_i"].astype("int64") * p["qty_i"],
        "clearing_qty": p["side_c"].astype("int64") * p["qty_c"],
        "internal_price": p["price_i"],
        "clearing_price": p["price_c"],
    }
    checks = (
        (BreakType.SIDE_MISMATCH, p["side_i"] != p["side_c"], "side differs"),
        (BreakType.QTY_MISMATCH, p["qty_i"] != p["qty_c"], "fill quantity differs"),
        (BreakType.PRICE_MISMATCH, (p["price_i"] - p["price_c"]).abs() > price_tolerance, "fill price differs"),
    )
    for btype, mask, detail in checks:
        m = mask.to_numpy()
        if m.any():
            cols = {k: v.loc[m] for k, v in common.items()}
            out.append(make_breaks(trade_date, btype, p["exec_id"].loc[m], detail=detail, **cols))  # type: ignore[arg-type]
    return concat_breaks(out)


def unmatched_internal_breaks(trade_date: str, internal_only: pd.DataFrame, cutoff_ns: int) -> pd.DataFrame:
    """Journal fills the clearer lacks: after its cutoff they are timing (carried), before it missing."""
    if internal_only.empty:
        return empty(BREAK_COLUMNS)
    late = (internal_only["ts_ns"] > cutoff_ns).to_numpy()
    out = []
    for btype, mask, status, detail in (
        (BreakType.TIMING_AFTER_CUTOFF, late, BreakStatus.CARRIED, "filled after the clearer's cutoff"),
        (BreakType.MISSING_AT_CLEARING, ~late, BreakStatus.OPEN, "not in the clearer's trade file"),
    ):
        rows = internal_only.loc[mask]
        if len(rows):
            out.append(
                make_breaks(
                    trade_date, btype, rows["exec_id"], status=status, account=rows["account"],
                    cusip=rows["cusip"], symbol=rows["symbol"], exec_id=rows["exec_id"],
                    internal_qty=rows["side"].astype("int64") * rows["qty"], internal_price=rows["price"],
                    detail=detail,
                )
            )
    return concat_breaks(out)


def unmatched_clearing_breaks(trade_date: str, clearing_only: pd.DataFrame) -> pd.DataFrame:
    if clearing_only.empty:
        return empty(BREAK_COLUMNS)
    c = clearing_only
    return make_breaks(
        trade_date, BreakType.MISSING_INTERNAL, c["exec_id"], account=c["account"], cusip=c["cusip"],
        symbol=c["symbol"], exec_id=c["exec_id"], clearing_qty=c["side"].astype("int64") * c["qty"],
        clearing_price=c["price"], detail="in the clearer's trade file, not in the journal",
    )


def settle_date_breaks(trade_date: str, clearing: pd.DataFrame, expected: Mapping[str, str]) -> pd.DataFrame:
    """Clearer trades whose settlement date is not T+1 on the settlement calendar (`expected`: td -> sd)."""
    if clearing.empty:
        return empty(BREAK_COLUMNS)
    want = clearing["trade_date"].map(expected)
    bad = clearing.loc[(want != clearing["settle_date"]).to_numpy()]
    if bad.empty:
        return empty(BREAK_COLUMNS)
    detail = "settlement date " + bad["settle_date"] + ", calendar says " + want.loc[bad.index]
    return make_breaks(
        trade_date, BreakType.SETTLEMENT_MISMATCH, bad["exec_id"], account=bad["account"], cusip=bad["cusip"],
        symbol=bad["symbol"], exec_id=bad["exec_id"], clearing_qty=bad["side"].astype("int64") * bad["qty"],
        detail=detail,
    )


# --- phase 2 and 3: positions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionTable:
    """Every (account, CUSIP) seen in any source, each source's quantity side by side (0 where flat).

    Keys are kept encoded (indices into `accounts` / `cusips`); only breaking keys become strings again.
    """

    accounts: np.ndarray  # object array of account codes
    cusips: np.ndarray
    acct_idx: np.ndarray  # int64 per key
    cusip_idx: np.ndarray
    cols: dict[str, np.ndarray]  # source name -> int64 quantity per key

    def __len__(self) -> int:
        return len(self.acct_idx)


def _arrow_chunks(s: pd.Series) -> list[Any]:
    import pyarrow as pa

    arr = pa.array(s.array) if hasattr(s.array, "__arrow_array__") else pa.array(s.to_numpy(dtype=object))
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    return [c.cast(pa.large_string()) for c in chunks]


def _encode(arrays: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary-encode string columns together: (int64 codes over their concatenation, unique values)."""
    import pyarrow as pa

    chunks = [c for a in arrays for c in _arrow_chunks(a)]
    if not chunks:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    enc = pa.chunked_array(chunks, type=pa.large_string()).dictionary_encode()
    if enc.num_chunks == 0:  # every column empty
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    dictionary = enc.chunks[-1].dictionary
    if any(len(ch.dictionary) != len(dictionary) for ch in enc.chunks):  # one memo table should give one
        whole = pa.concat_arrays(chunks).dictionary_encode()  # dictionary; if not, encode in one piece
        return (whole.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                np.asarray(whole.dictionary.to_numpy(zero_copy_only=False), dtype=object))
    codes = np.concatenate([ch.indices.to_numpy(zero_copy_only=False) for ch in enc.chunks]).astype(np.int64)
    return codes, np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=object)


def position_table(positions: dict[str, tuple[pd.DataFrame, str, str]], trades: dict[str, pd.DataFrame]
                   ) -> PositionTable:
    """`positions`: name -> (frame unique by (account, CUSIP), quantity column, source label for errors);
    `trades`: name -> fills whose signed quantities are summed per key. A duplicate key in a positions frame
    fails the run (ReconError naming the source)."""
    from flows.errors import ReconError

    frames = [f for f, _, _ in positions.values()] + list(trades.values())
    distinct: list[pd.DataFrame] = []
    for f in frames:  # the clearer's TD and SD columns share one frame: encode its keys once
        if not any(f is g for g in distinct):
            distinct.append(f)
    a_all, accounts = _encode([f["account"] for f in distinct])
    c_all, cusips = _encode([f["cusip"] for f in distinct])
    starts = np.cumsum([0, *(len(f) for f in distinct)])
    which = [next(i for i, g in enumerate(distinct) if g is f) for f in frames]
    a_codes = np.concatenate([a_all[starts[i]:starts[i + 1]] for i in which]) if frames else a_all
    c_codes = np.concatenate([c_all[starts[i]:starts[i + 1]] for i in which]) if frames else c_all
    sizes = [len(f) for f in frames]
    n_c = max(len(cusips), 1)
    combined = a_codes * n_c + c_codes
    space = max(len(accounts), 1) * n_c
    if space <= 8 * max(len(combined), 1) + 1_000_000:  # dense: accounts × CUSIPs is small
        present = np.zeros(space, dtype=bool)
        present[combined] = True
        keys = np.flatnonzero(present)
        slot_of = np.full(space, -1, dtype=np.int64)
        slot_of[keys] = np.arange(len(keys))
        slots = slot_of[combined]
    else:
        keys, slots = np.unique(combined, return_inverse=True)
    n = len(keys)
    bounds = np.cumsum([0, *sizes])
    cols: dict[str, np.ndarray] = {}
    for i, (name, (frame, qcol, label)) in enumerate(positions.items()):
        sl = slots[bounds[i]:bounds[i + 1]]
        seen = np.zeros(n, dtype=bool)
        seen[sl] = True
        if int(np.count_nonzero(seen)) != len(sl):
            k = int(np.flatnonzero(np.bincount(sl, minlength=n) > 1)[0])
            raise ReconError(f"{label}: duplicate account+cusip {accounts[keys[k] // n_c]}/{cusips[keys[k] % n_c]}")
        col = np.zeros(n, dtype=np.int64)
        col[sl] = frame[qcol].to_numpy(dtype=np.int64)
        cols[name] = col
    for j, (name, frame) in enumerate(trades.items()):
        i = len(positions) + j
        col = np.zeros(n, dtype=np.int64)
        if len(frame):
            signed = frame["side"].to_numpy(dtype=np.int64) * frame["qty"].to_numpy(dtype=np.int64)
            np.add.at(col, slots[bounds[i]:bounds[i + 1]], signed)
        cols[name] = col
    return PositionTable(accounts, cusips, keys // n_c, keys % n_c, cols)


def map_position_cusips(positions: pd.DataFrame, actions: pd.DataFrame, qty_cols: list[str]) -> pd.DataFrame:
    """Positions under a retired CUSIP restated under the new one (quantity × ratio), merged with any there."""
    if actions.empty or positions.empty:
        return positions
    hit = positions["cusip"].isin(actions["old_cusip"])
    if not bool(hit.any()):
        return positions
    ca = actions.set_index("old_cusip")
    moved = positions.loc[hit].copy()
    num = moved["cusip"].map(ca["ratio_num"]).to_numpy(dtype=np.int64)
    den = moved["cusip"].map(ca["ratio_den"]).to_numpy(dtype=np.int64)
    for c in qty_cols:
        moved[c] = moved[c].to_numpy(dtype=np.int64) * num // den
    moved["cusip"] = moved["cusip"].map(ca["new_cusip"]).astype("str")
    merged = pd.concat([positions.loc[~hit], moved], ignore_index=True)
    return merged.groupby(KEY, as_index=False, sort=True)[qty_cols].sum()


def position_breaks(trade_date: str, table: PositionTable, symbols: Mapping[str, str]) -> pd.DataFrame:
    """Trade-date, settle-date and core breaks. Expects columns sod, clearing_td, clearing_sd, core,
    internal_trades, clearing_trades, missing_internal, unsettled (see reconcile.reconcile)."""
    c = table.cols
    internal_td = c["sod"] + c["internal_trades"]
    clearing_td = c["clearing_td"]
    core = c["core"]
    td_resid = (clearing_td - internal_td) - (c["clearing_trades"] - c["internal_trades"])
    sd_expected = clearing_td - c["unsettled"]
    clearing_sd = c["clearing_sd"]
    diff = core - internal_td
    masks = (
        (BreakType.QTY_MISMATCH, td_resid != 0, "trade-date position differs beyond the fills",
         {"internal_qty": internal_td, "clearing_qty": clearing_td, "core_qty": core}),
        (BreakType.SETTLEMENT_MISMATCH, clearing_sd != sd_expected,
         "settle-date position differs from trade-date position less unsettled trades (T+1)",
         {"internal_qty": sd_expected, "clearing_qty": clearing_sd}),
        (BreakType.CORE_DIVERGES, (diff != 0) & (diff != c["missing_internal"]),
         "core snapshot differs from SOD + journal fills",
         {"internal_qty": internal_td, "core_qty": core, "clearing_qty": clearing_td}),
    )
    out = []
    for btype, m, detail, qtys in masks:
        if not m.any():
            continue
        acct = table.accounts[table.acct_idx[m]].astype(str)  # only the (few) breaking keys become strings
        cusip = table.cusips[table.cusip_idx[m]].astype(str)
        keys = pd.Series(np.char.add(np.char.add(acct, "|"), cusip))
        out.append(make_breaks(
            trade_date, btype, keys, level="position", account=acct, cusip=cusip,
            symbol=[symbols.get(x, "") for x in cusip], detail=detail, **{k: v[m] for k, v in qtys.items()},
        ))
    return concat_breaks(out)


def corporate_action_breaks(
    trade_date: str, internal_pos: pd.DataFrame, actions: pd.DataFrame, symbols: Mapping[str, str]
) -> pd.DataFrame:
    """Internal books still holding an identifier a corporate action retired (one break per account+old CUSIP)."""
    if actions.empty or internal_pos.empty:
        return empty(BREAK_COLUMNS)
    held = internal_pos.loc[internal_pos["cusip"].isin(actions["old_cusip"]) & (internal_pos["qty"] != 0)]
    if held.empty:
        return empty(BREAK_COLUMNS)
    ca = actions.set_index("old_cusip")
    new_cusip = held["cusip"].map(ca["new_cusip"])
    detail = (
        "books hold " + held["cusip"] + "; clearer holds " + new_cusip + " (" + held["cusip"].map(ca["new_symbol"])
        + ", effective " + held["cusip"].map(ca["effective_date"]) + ")"
    )
    return make_breaks(
        trade_date, BreakType.CORPORATE_ACTION, held["account"] + "|" + held["cusip"], level="position",
        account=held["account"],
        cusip=held["cusip"], symbol=held["cusip"].map(lambda c: symbols.get(c, "")), internal_qty=held["qty"],
        detail=detail,
    )
