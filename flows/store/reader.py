"""Read drop-copy records back out of the store as protocol.EVENT_DTYPE arrays (the loader's inverse).

Why: CAT, recon and reports work on numpy record arrays; going through ORM objects costs a Python object
per row and field. One DBAPI query, then one numpy array per column.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import Engine, text

from core_bridge.protocol import EVENT_DTYPE
from flows.store.event_columns import EVENT_COLUMNS

_SOURCE = [(col, field) for col, field, _kind in EVENT_COLUMNS if field in (EVENT_DTYPE.names or ())]


def read_events(engine: Engine, trade_date: dt.date | None = None, epoch: int | None = None) -> np.ndarray:
    """Stored order events in (epoch, seq) order, optionally only one New York trade date and/or epoch."""
    where: list[str] = []
    params: dict[str, object] = {}
    if trade_date is not None:
        where.append("trade_date = :d")
        params["d"] = trade_date
    if epoch is not None:
        where.append("epoch = :e")
        params["e"] = epoch
    sql = f"SELECT {', '.join(c for c, _f in _SOURCE)} FROM order_events"  # noqa: S608 (fixed identifiers)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY epoch, seq"
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    if not rows:
        return out
    for (_col, field), values in zip(_SOURCE, zip(*rows, strict=True), strict=True):
        if EVENT_DTYPE[field].kind == "S":
            out[field] = np.array(values, dtype="U8").astype("S8")
        else:
            out[field] = np.array(values, dtype=np.int64 if EVENT_DTYPE[field].kind == "i" else np.uint64)
    return out
