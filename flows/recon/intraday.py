"""Intraday reconciliation: the journal's fills vs the clearer's FIX drop copy, as of one moment.

Pure and vectorised: one outer merge on exec id, then masks. Nothing here reads a clock, the DB or the
network; the flow (`flows/jobs/intraday_recon.py`) passes `now_ns` and the frames.

Rules, per exec id (the clearer's ExecRefID for busts and corrections, its ExecID otherwise):
- journal only, older than the grace period -> MISSING_AT_CLEARING (younger: the clearer is still booking);
- drop copy only, older than the grace period -> MISSING_INTERNAL (missing at the core's journal);
- busted by the clearer (150=H) -> BUSTED_TRADE (the core still holds the fill) and nothing else;
- corrected by the clearer (150=G) and still differing -> CORRECTED_TRADE (fields named in the detail); a
  correction that makes the booking agree is no break (an earlier break closes as CORRECTED_BY_CLEARER);
- otherwise one break per differing field: SIDE_MISMATCH, QTY_MISMATCH, PRICE_MISMATCH, ACCOUNT_MISMATCH
  (Account(1) or ClearingAccount(440)).

A break that was open and is not found again closes itself with the reason (`CloseReason`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from flows.recon.breaks import BreakType, break_id

NS = 1_000_000_000
DEFAULT_GRACE_NS = 120 * NS  # the clearer books within seconds; two minutes before a missing fill is a break

# The drop copy as stored (flows/fixdrop/store.py), one row per trade with busts and corrections applied.
DROPCOPY_COLUMNS: dict[str, Any] = {
    "exec_id": "str",
    "order_id": "str",
    "account": "str",  # Account(1)
    "clearing_account": "str",  # ClearingAccount(440)
    "symbol": "str",
    "side": "int8",  # +1 buy, -1 sell (short or not)
    "qty": "int64",
    "price": "int64",  # PRICE_SCALE fixed point
    "ts_ns": "int64",  # TransactTime(60)
    "state": "str",  # new | busted | corrected
}

INTRADAY_BREAK_COLUMNS: dict[str, Any] = {
    "break_id": "str",
    "trade_date": "str",
    "btype": "str",
    "exec_id": "str",
    "account": "str",
    "symbol": "str",
    "internal_qty": "Int64",  # signed
    "clearing_qty": "Int64",
    "internal_price": "Int64",
    "clearing_price": "Int64",
    "detail": "str",
    "event_ns": "int64",  # when the fill happened (the journal's time, else the clearer's)
    "age_s": "int64",  # now - event_ns, whole seconds
}

INTRADAY_TYPES = (
    BreakType.MISSING_AT_CLEARING, BreakType.MISSING_INTERNAL, BreakType.QTY_MISMATCH, BreakType.PRICE_MISMATCH,
    BreakType.SIDE_MISMATCH, BreakType.ACCOUNT_MISMATCH, BreakType.BUSTED_TRADE, BreakType.CORRECTED_TRADE,
)


class CloseReason(enum.StrEnum):
    """Why an open intraday break closed without a person. Stored; never rename one."""

    LATE_BOOKING = "LATE_BOOKING"  # the clearer's drop copy of the fill arrived
    JOURNAL_CAUGHT_UP = "JOURNAL_CAUGHT_UP"  # the journal has the fill now (capture rewound a gap)
    CORRECTED_BY_CLEARER = "CORRECTED_BY_CLEARER"  # a 150=G made the booking agree
    SUPERSEDED = "SUPERSEDED"  # the same exec now breaks with another type (e.g. corrected, busted)
    AGREES_NOW = "AGREES_NOW"  # found equal on a later run for any other reason


@dataclass(frozen=True)
class IntradayResult:
    breaks: pd.DataFrame  # every break found now (INTRADAY_BREAK_COLUMNS), sorted by (btype, exec_id)
    new: pd.DataFrame  # those not open before
    closed: pd.DataFrame  # columns break_id, btype, exec_id, reason
    pending: int  # fills inside the grace period, not yet a break


def _empty_breaks() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in INTRADAY_BREAK_COLUMNS.items()})


def _rows(m: pd.DataFrame, mask: np.ndarray, btype: BreakType, trade_date: str, now_ns: int,
          detail: pd.Series | str) -> pd.DataFrame:
    if not mask.any():
        return _empty_breaks()
    r = m.loc[mask]
    ji = r["ts_ns_j"].notna().to_numpy()
    event = np.where(ji, r["ts_ns_j"].fillna(0).to_numpy(np.int64), r["ts_ns_c"].fillna(0).to_numpy(np.int64))
    exec_ids = r["exec_id"].astype("str")
    out = pd.DataFrame({
        "break_id": [break_id(trade_date, btype, e) for e in exec_ids],
        "trade_date": trade_date,
        "btype": btype.value,
        "exec_id": exec_ids.to_numpy(),
        "account": np.where(ji, r["account_j"].astype(object).to_numpy(), r["account_c"].astype(object).to_numpy()),
        "symbol": np.where(ji, r["symbol_j"].astype(object).to_numpy(), r["symbol_c"].astype(object).to_numpy()),
        "internal_qty": (r["side_j"] * r["qty_j"]).to_numpy(),
        "clearing_qty": (r["side_c"] * r["qty_c"]).to_numpy(),
        "internal_price": r["price_j"].to_numpy(),
        "clearing_price": r["price_c"].to_numpy(),
        "detail": detail.to_numpy() if isinstance(detail, pd.Series) else detail,
        "event_ns": event,
        "age_s": (now_ns - event) // NS,
    })
    return out.astype(INTRADAY_BREAK_COLUMNS)


def _clearing_account_differs(mb: pd.DataFrame, clearing_accounts: Mapping[str, str]) -> np.ndarray:
    """ClearingAccount(440) differs from the one the journal's account maps to (one compare per account)."""
    acct, ca = mb["account_j"], mb["clearing_account"]
    bad = np.zeros(len(mb), dtype=bool)
    known = np.zeros(len(mb), dtype=bool)
    for a, want in clearing_accounts.items():
        mine = (acct == a).to_numpy(dtype=bool)
        known |= mine
        bad |= mine & (ca != want).to_numpy(dtype=bool)
    return bad | (~known & (ca != "").to_numpy(dtype=bool))


def find_breaks(journal: pd.DataFrame, dropcopy: pd.DataFrame, *, trade_date: str, now_ns: int,
                clearing_accounts: Mapping[str, str], grace_ns: int = DEFAULT_GRACE_NS
                ) -> tuple[pd.DataFrame, int]:
    """(breaks as of `now_ns`, fills still inside the grace period). `journal` has flows.recon.frames'
    EXEC_COLUMNS, `dropcopy` DROPCOPY_COLUMNS; `clearing_accounts` maps core account -> clearing account."""
    j = journal[["exec_id", "account", "symbol", "side", "qty", "price", "ts_ns"]]
    c = dropcopy[["exec_id", "account", "clearing_account", "symbol", "side", "qty", "price", "ts_ns", "state"]]
    m = j.merge(c, on="exec_id", how="outer", suffixes=("_j", "_c"), sort=False)
    in_j = m["ts_ns_j"].notna().to_numpy()  # never null on either side, so presence is the indicator
    in_c = m["ts_ns_c"].notna().to_numpy()
    both = in_j & in_c
    j_only = in_j & ~in_c
    c_only = in_c & ~in_j
    tj = m["ts_ns_j"].fillna(now_ns).to_numpy(np.int64)
    tc = m["ts_ns_c"].fillna(now_ns).to_numpy(np.int64)
    j_late = j_only & (now_ns - tj > grace_ns)
    c_late = c_only & (now_ns - tc > grace_ns)
    pending = int((j_only & ~j_late).sum() + (c_only & ~c_late).sum())
    parts = [
        _rows(m, j_late, BreakType.MISSING_AT_CLEARING, trade_date, now_ns, "no drop copy from the clearer"),
        _rows(m, c_late, BreakType.MISSING_INTERNAL, trade_date, now_ns,
              "in the clearer's drop copy, not in the journal"),
    ]
    if both.any():
        mb = m.loc[both]
        # String columns are compared as they are (arrow), never turned into Python objects: at a million
        # fills that conversion alone costs more than the merge.
        busted = (mb["state"] == "busted").to_numpy(dtype=bool)
        corrected = (mb["state"] == "corrected").to_numpy(dtype=bool)
        diffs = {
            "side": (mb["side_j"] != mb["side_c"]).to_numpy(dtype=bool),
            "qty": (mb["qty_j"] != mb["qty_c"]).to_numpy(dtype=bool),
            "price": (mb["price_j"] != mb["price_c"]).to_numpy(dtype=bool),
            "account": (mb["account_j"] != mb["account_c"]).to_numpy(dtype=bool),
            "clearing account": _clearing_account_differs(mb, clearing_accounts),
        }
        plain = ~busted & ~corrected
        idx = np.flatnonzero(both)

        def mask_of(sub: np.ndarray) -> np.ndarray:
            full = np.zeros(len(m), dtype=bool)
            full[idx[sub]] = True
            return full

        parts.append(_rows(m, mask_of(busted), BreakType.BUSTED_TRADE, trade_date, now_ns,
                           "busted by the clearer (150=H); the core still holds the fill"))
        any_diff = np.logical_or.reduce(list(diffs.values()))
        corr = corrected & any_diff
        if corr.any():
            names = np.array([", ".join(k for k, d in diffs.items() if d[i]) for i in np.flatnonzero(corr)],
                             dtype=object)
            parts.append(_rows(m, mask_of(corr), BreakType.CORRECTED_TRADE, trade_date, now_ns,
                               pd.Series("corrected by the clearer (150=G); differs in " + names)))
        for btype, key in ((BreakType.SIDE_MISMATCH, "side"), (BreakType.QTY_MISMATCH, "qty"),
                           (BreakType.PRICE_MISMATCH, "price")):
            parts.append(_rows(m, mask_of(plain & diffs[key]), btype, trade_date, now_ns, f"{key} differs"))
        acct = plain & (diffs["account"] | diffs["clearing account"])
        if acct.any():
            which = np.where(diffs["account"][acct], "Account(1) differs", "ClearingAccount(440) differs")
            parts.append(_rows(m, mask_of(acct), BreakType.ACCOUNT_MISMATCH, trade_date, now_ns, pd.Series(which)))
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_breaks(), pending
    out = pd.concat(parts, ignore_index=True).sort_values(["btype", "exec_id"], kind="stable", ignore_index=True)
    return out, pending


def close_reasons(prior_open: pd.DataFrame, current: pd.DataFrame, dropcopy: pd.DataFrame) -> pd.DataFrame:
    """Prior open breaks (columns break_id, btype, exec_id) not found now, each with why it closed."""
    cols = ["break_id", "btype", "exec_id", "reason"]
    gone = prior_open.loc[~prior_open["break_id"].isin(current["break_id"])]
    if gone.empty:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in cols})
    still = set(current["exec_id"])
    corrected = set(dropcopy.loc[dropcopy["state"] == "corrected", "exec_id"])
    reasons = []
    for bt, e in zip(gone["btype"], gone["exec_id"], strict=True):
        if e in still:
            reasons.append(CloseReason.SUPERSEDED.value)
        elif bt == BreakType.MISSING_AT_CLEARING.value:
            reasons.append(CloseReason.LATE_BOOKING.value)
        elif bt == BreakType.MISSING_INTERNAL.value:
            reasons.append(CloseReason.JOURNAL_CAUGHT_UP.value)
        elif e in corrected:
            reasons.append(CloseReason.CORRECTED_BY_CLEARER.value)
        else:
            reasons.append(CloseReason.AGREES_NOW.value)
    return pd.DataFrame({"break_id": gone["break_id"].to_numpy(), "btype": gone["btype"].to_numpy(),
                         "exec_id": gone["exec_id"].to_numpy(), "reason": reasons}).astype("str")


def reconcile_intraday(journal: pd.DataFrame, dropcopy: pd.DataFrame, prior_open: pd.DataFrame, *,
                       trade_date: str, now_ns: int, clearing_accounts: Mapping[str, str],
                       grace_ns: int = DEFAULT_GRACE_NS) -> IntradayResult:
    """One run: breaks now, which are new since `prior_open` (break_id, btype, exec_id), which closed and why."""
    breaks, pending = find_breaks(journal, dropcopy, trade_date=trade_date, now_ns=now_ns,
                                  clearing_accounts=clearing_accounts, grace_ns=grace_ns)
    new = breaks.loc[~breaks["break_id"].isin(prior_open["break_id"])].reset_index(drop=True)
    return IntradayResult(breaks, new, close_reasons(prior_open, breaks, dropcopy), pending)
