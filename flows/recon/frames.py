"""The frame shapes reconciliation works on, and the checks that make a bad frame fail the run.

Every source (clearing files, the journal via the ops store, the core snapshot) is turned into these shapes
by its reader; the pure phases in flows/recon/matching.py take nothing else. Quantities are signed int64
shares, prices int64 PRICE_SCALE fixed point, `side` +1 buy / -1 sell (short or not: short marking is a
separate control), dates ISO `YYYY-MM-DD` strings (business dates, America/New_York).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from flows.errors import ReconError

KEY = ["account", "cusip"]

EXEC_COLUMNS: dict[str, Any] = {
    "exec_id": "str",
    "order_id": "str",
    "account": "str",
    "cusip": "str",
    "symbol": "str",
    "side": "int8",
    "qty": "int64",
    "price": "int64",
    "ts_ns": "int64",
    "trade_date": "str",
}
CLEARING_TRADE_COLUMNS: dict[str, Any] = EXEC_COLUMNS | {"settle_date": "str"}
POSITION_COLUMNS: dict[str, Any] = {"account": "str", "cusip": "str", "qty": "int64"}
CLEARING_POSITION_COLUMNS: dict[str, Any] = {"account": "str", "cusip": "str", "td_qty": "int64", "sd_qty": "int64"}
CORP_ACTION_COLUMNS: dict[str, Any] = {
    "old_cusip": "str",
    "new_cusip": "str",
    "new_symbol": "str",
    "ratio_num": "int64",
    "ratio_den": "int64",
    "effective_date": "str",
}

BREAK_COLUMNS: dict[str, Any] = {
    "break_id": "str",
    "trade_date": "str",  # the business date the break was first seen (part of its id)
    "btype": "str",
    "key": "str",
    "level": "str",  # execution | position
    "status": "str",
    "account": "str",
    "cusip": "str",
    "symbol": "str",
    "exec_id": "str",
    "internal_qty": "Int64",
    "clearing_qty": "Int64",
    "core_qty": "Int64",
    "internal_price": "Int64",
    "clearing_price": "Int64",
    "detail": "str",
}


_EMPTY: dict[tuple[tuple[str, str], ...], pd.DataFrame] = {}


def empty(columns: dict[str, Any]) -> pd.DataFrame:
    """A zero-row frame with these columns and dtypes (a fresh copy of a cached prototype)."""
    key = tuple((c, str(t)) for c, t in columns.items())
    proto = _EMPTY.get(key)
    if proto is None:
        proto = _EMPTY[key] = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
    return proto.copy()


def conform(frame: pd.DataFrame, columns: dict[str, Any], what: str) -> pd.DataFrame:
    """The frame with exactly `columns` in their dtypes, or ReconError naming the source and column.

    Fail closed: a missing column or a value that does not convert is an unreadable source, never zeros.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReconError(f"{what}: missing column(s) {', '.join(missing)}")
    frame = frame.reset_index(drop=True)
    out = {}
    for col, dtype in columns.items():
        s = frame[col]
        if dtype in ("int64", "int8", "Int64") and s.isna().any() and dtype != "Int64":
            row = int(s.isna().to_numpy().argmax())
            raise ReconError(f"{what}: row {row + 1} column {col}: empty value")
        try:
            out[col] = s.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise ReconError(f"{what}: column {col}: {exc}") from None
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def check_unique(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    dup = frame.duplicated(cols, keep="first")
    if bool(dup.any()):
        row = frame.loc[dup].iloc[0]
        key = "/".join(str(row[c]) for c in cols)
        raise ReconError(f"{what}: duplicate {'+'.join(cols)} {key}")


def isin(values: pd.Series, among: pd.Series) -> np.ndarray:
    """Boolean mask of `values` found in `among` (string columns), by hash in pyarrow: pandas' isin on arrow
    strings walks Python objects and dominates a day's matching otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    left = pa.array(values.to_numpy(dtype=object), type=pa.large_string())
    right = pa.array(among.to_numpy(dtype=object), type=pa.large_string())
    return np.asarray(pc.is_in(left, value_set=right).to_numpy(zero_copy_only=False), dtype=bool)
