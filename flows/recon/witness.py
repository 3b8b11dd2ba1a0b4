"""The clearer's FIX drop copy as a third witness in end-of-day recon: for each execution-level break between
the journal and the clearer's EOD trade file, the drop copy's booking of the same exec id says which source
disagreed. Pure: frames in, the breaks frame back with the verdict appended to `detail`.

Verdicts: "EOD file disagrees" (drop copy = journal), "journal disagrees" (drop copy = EOD file),
"drop copy disagrees with both", "no drop copy" (the witness is silent). Busted or corrected bookings say so.
"""

from __future__ import annotations

import pandas as pd

from flows.recon.breaks import BreakType

EXEC_TYPES = frozenset({BreakType.QTY_MISMATCH, BreakType.PRICE_MISMATCH, BreakType.SIDE_MISMATCH,
                        BreakType.MISSING_AT_CLEARING, BreakType.MISSING_INTERNAL, BreakType.TIMING_AFTER_CUTOFF})


def _key(side: int, qty: int, price: int) -> tuple[int, int, int]:
    return int(side), int(qty), int(price)


def verdicts(breaks: pd.DataFrame, journal: pd.DataFrame, clearing: pd.DataFrame,
             dropcopy: pd.DataFrame) -> pd.Series:
    """One verdict per break row ("" for position-level breaks and when no drop copy was taken)."""
    out = pd.Series([""] * len(breaks), index=breaks.index, dtype="str")
    if dropcopy.empty or breaks.empty:
        return out
    dc = {str(r.exec_id): r for r in dropcopy.itertuples(index=False)}
    jr = {str(r.exec_id): _key(r.side, r.qty, r.price) for r in journal.itertuples(index=False)}
    cl = {str(r.exec_id): _key(r.side, r.qty, r.price) for r in clearing.itertuples(index=False)}
    for i, bt, e in zip(breaks.index, breaks["btype"], breaks["exec_id"], strict=True):
        if bt not in EXEC_TYPES:
            continue
        w = dc.get(str(e))
        if w is None:
            out[i] = "drop copy: no drop copy of this execution"
            continue
        if w.state == "busted":
            out[i] = "drop copy: busted by the clearer (150=H)"
            continue
        seen = _key(w.side, w.qty, w.price)
        j, c = jr.get(str(e)), cl.get(str(e))
        if seen == j and seen != c:
            verdict = "EOD file disagrees (drop copy = journal)"
        elif seen == c and seen != j:
            verdict = "journal disagrees (drop copy = EOD file)"
        else:
            verdict = "drop copy disagrees with both"
        out[i] = "drop copy: " + verdict + (" after a 150=G correction" if w.state == "corrected" else "")
    return out


def with_witness(breaks: pd.DataFrame, journal: pd.DataFrame, clearing: pd.DataFrame,
                 dropcopy: pd.DataFrame) -> pd.DataFrame:
    v = verdicts(breaks, journal, clearing, dropcopy)
    if not v.astype(bool).any():
        return breaks
    out = breaks.copy()
    has = v.astype(bool).to_numpy()
    out.loc[has, "detail"] = (out.loc[has, "detail"].astype("str") + "; " + v[has]).to_numpy()
    return out
