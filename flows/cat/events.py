"""The day's drop-copy events for CAT: an explicit .npy file, else the ops store's order_events, else the
journal. Fixed-size EVENT_DTYPE records throughout, so the builders never see a Python object per event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from core_bridge.protocol import EVENT_DTYPE
from core_bridge.settings import Settings
from flows.cat.partitions import DaySource


def load_events(settings: Settings, day: dt.date, events_path: str | None = None) -> np.ndarray:
    """The day's events: an explicit .npy file, else the store's order_events, else the journal."""
    if events_path:
        arr = np.load(events_path, allow_pickle=False)
        if arr.dtype != EVENT_DTYPE:
            raise ValueError(f"{events_path}: dtype {arr.dtype} is not EVENT_DTYPE")
        return arr
    from_store = _events_from_store(settings, day)
    if from_store is not None:
        return from_store
    return _events_from_journal(settings, day)


def _events_from_store(settings: Settings, day: dt.date) -> np.ndarray | None:
    try:
        import sqlalchemy as sa

        from flows.store.db import make_engine
        from flows.store.models import OrderEvent
    except ImportError:
        return None
    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    engine = make_engine(url)
    try:
        cols = [c for c in EVENT_DTYPE.names or ()]
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("order_events"):
                return None
            rows = conn.execute(sa.select(*[getattr(OrderEvent, c) for c in cols])
                                .where(OrderEvent.trade_date == day).order_by(OrderEvent.epoch, OrderEvent.seq)).all()
    finally:
        engine.dispose()
    if not rows:
        return None
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for j, c in enumerate(cols):
        vals = [r[j] for r in rows]
        out[c] = [v.encode() for v in vals] if EVENT_DTYPE[c].kind == "S" else vals
    return out


def _events_from_journal(settings: Settings, day: dt.date) -> np.ndarray:
    from core_bridge.journal.reader import iter_records
    from reports.cat.encode import date_int, et_date_int

    jdir = settings.journal_dir
    if not jdir.is_dir():
        return np.zeros(0, dtype=EVENT_DTYPE)
    want = date_int(day)
    parts = []
    for recs in iter_records(jdir):
        hours = np.unique(recs["ts_ns"] // 3_600_000_000_000)
        keep_hours = [h for h in hours.tolist() if et_date_int(h * 3_600_000_000_000) == want]
        parts.append(recs[np.isin(recs["ts_ns"] // 3_600_000_000_000, keep_hours)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)


def day_source(settings: Settings, day: dt.date, events_path: str | None, work: Path) -> DaySource:
    """Where the partitions read the day: the given .npy, else the store's rows (written once to a .npy in
    `work`, which partitions then memory-map), else the journal itself."""
    if events_path:
        return DaySource("npy", str(events_path), day.isoformat())
    from_store = _events_from_store(settings, day)
    if from_store is not None:
        work.mkdir(parents=True, exist_ok=True)
        path = work / "events.npy"
        np.save(path, from_store)
        return DaySource("npy", str(path), day.isoformat())
    return DaySource("journal", str(settings.journal_dir), day.isoformat())
