"""Auto-resolution rules: each one explicit, named, and tested. Everything else stays open until signed off.

`prior` is the set of breaks first seen before the business date that were still open at its start (open,
carried, or resolved on/after the date — so a re-run of the date resolves the same breaks the same way).

Rules:
- TIMING_ARRIVED: a carried TIMING_AFTER_CUTOFF fill appears in a later clearer trade file (same exec id,
  or same account, CUSIP and signed quantity). The clearer trade is consumed (it is not MISSING_INTERNAL).
- POSITION_NOW_AGREES: a position-level break (trade-date or settle-date quantity, core divergence,
  corporate action) that is not found again today: positions are state, so agreement today closes it.
  Execution-level breaks are events and never close by themselves (except TIMING_ARRIVED).
- Continuation (not a resolution): a position-level break found again today keeps its original id and
  first-seen date, so it ages instead of being reborn every day.
"""

from __future__ import annotations

import enum

import numpy as np
import pandas as pd

from flows.recon.breaks import BreakType


class AutoRule(enum.StrEnum):
    TIMING_ARRIVED = "TIMING_ARRIVED"
    POSITION_NOW_AGREES = "POSITION_NOW_AGREES"


RESOLUTION_COLUMNS = ["break_id", "rule", "resolved_on", "detail"]


def _resolutions(ids: pd.Series, rule: AutoRule, resolved_on: str, detail: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame(
        {"break_id": ids.to_numpy(), "rule": rule.value, "resolved_on": resolved_on,
         "detail": detail.to_numpy() if isinstance(detail, pd.Series) else detail},
        columns=RESOLUTION_COLUMNS,
    ).astype("str")


def timing_arrived(
    trade_date: str, prior: pd.DataFrame, clearing_only: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(resolutions, clearer trades left over) after matching carried timing breaks to today's clearer trades."""
    carried = prior.loc[prior["btype"] == BreakType.TIMING_AFTER_CUTOFF.value]
    if carried.empty or clearing_only.empty:
        return pd.DataFrame(columns=RESOLUTION_COLUMNS).astype("str"), clearing_only
    c = clearing_only.assign(signed=clearing_only["side"].astype("int64") * clearing_only["qty"])
    by_id = carried.merge(c, on="exec_id", how="inner", suffixes=("", "_c"))
    rest_b = carried.loc[~carried["break_id"].isin(by_id["break_id"])]
    rest_c = c.loc[~c["exec_id"].isin(by_id["exec_id"])]
    # Fallback on (account, CUSIP, signed quantity), duplicates paired in a stable order.
    key = ["account", "cusip", "signed"]
    rb = rest_b.assign(signed=rest_b["internal_qty"].astype("int64")).sort_values(["break_id"], kind="stable")
    rc = rest_c.sort_values(["exec_id"], kind="stable")
    rb = rb.assign(_n=rb.groupby(key, sort=False).cumcount())
    rc = rc.assign(_n=rc.groupby(key, sort=False).cumcount())
    by_attr = rb.merge(rc, on=key + ["_n"], how="inner", suffixes=("", "_c"))
    ids = pd.concat([by_id["break_id"], by_attr["break_id"]], ignore_index=True)
    arrived_exec = pd.concat([by_id["exec_id"], by_attr["exec_id_c"]], ignore_index=True)
    detail = "arrived in the clearer's file of " + trade_date + " as exec " + arrived_exec
    remaining = clearing_only.loc[~clearing_only["exec_id"].isin(arrived_exec)].reset_index(drop=True)
    return _resolutions(ids, AutoRule.TIMING_ARRIVED, trade_date, detail), remaining


def continue_prior(today: pd.DataFrame, prior: pd.DataFrame) -> pd.DataFrame:
    """Today's position-level findings that continue a prior break take over its id and first-seen date."""
    pos_prior = prior.loc[prior["level"] == "position", ["btype", "key", "break_id", "trade_date"]]
    if pos_prior.empty or today.empty:
        return today
    pos_prior = pos_prior.sort_values(["trade_date", "break_id"], kind="stable").drop_duplicates(["btype", "key"])
    m = today.merge(pos_prior, on=["btype", "key"], how="left", suffixes=("", "_prior"))
    hit = m["break_id_prior"].notna().to_numpy() & (today["level"] == "position").to_numpy()
    out = today.copy()
    out.loc[hit, "break_id"] = m.loc[hit, "break_id_prior"].to_numpy()
    out.loc[hit, "trade_date"] = m.loc[hit, "trade_date_prior"].to_numpy()
    return out


def position_now_agrees(trade_date: str, prior: pd.DataFrame, today: pd.DataFrame) -> pd.DataFrame:
    """Prior position-level breaks not found again today."""
    pos = prior.loc[prior["level"] == "position"]
    if pos.empty:
        return pd.DataFrame(columns=RESOLUTION_COLUMNS).astype("str")
    seen = set(zip(today["btype"], today["key"], strict=True))
    gone = np.array([(b, k) not in seen for b, k in zip(pos["btype"], pos["key"], strict=True)], dtype=bool)
    return _resolutions(pos.loc[gone, "break_id"], AutoRule.POSITION_NOW_AGREES, trade_date,
                        "not found again on " + trade_date)
