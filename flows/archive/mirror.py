"""Mirror the per-object archive state into the ops DB (`retention_items`) for queries and dashboards.

The archive's own manifest stays the source of truth: the mirror is rebuilt from it (upsert per object),
so a lost or stale table is repaired by the next run. Tolerant of a store that is not there yet: when the
models cannot be imported or the table does not exist, nothing is written and the reason is returned.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flows.archive.archive import ObjectState


def mirror_rows(states: dict[str, ObjectState]) -> list[dict[str, Any]]:
    rows = []
    for oid, st in sorted(states.items()):
        if not st.live:
            continue
        g = st.governing
        first = st.entries[0]
        rows.append(
            {
                "object_id": oid,
                "record_class": st.record_class,
                "source": str(g["source"])[:255],
                "created_at": dt.datetime.fromtimestamp(int(first["ts_ns"]) / 1e9, tz=dt.UTC),
                "retain_until": st.retain_until,
                "hold": st.on_hold,
                "hold_reason": "; ".join(f"{h['hold_id']} by {h['actor']}: {h['reason']}"
                                         for _k, h in sorted(st.holds.items())) or None,
                "archive_path": f"objects/{oid[:2]}/{oid}",
            }
        )
    return rows


def mirror_to_db(states: dict[str, ObjectState], db_url: str) -> str:
    """Upsert live objects and delete purged ones in one transaction. Returns a one-line status for the report."""
    try:
        from sqlalchemy import delete, inspect
        from sqlalchemy.exc import SQLAlchemyError

        from flows.store.db import make_engine, session_scope
        from flows.store.models import RetentionItem
    except ImportError as exc:
        return f"not mirrored: store models unavailable ({exc.name})"
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).is_file():
        return "not mirrored: database file absent (store not initialised)"
    engine = make_engine(db_url)
    table = RetentionItem.__tablename__
    try:
        if not inspect(engine).has_table(table):
            return f"not mirrored: table {table} absent (run the store migrations)"
        rows = mirror_rows(states)
        purged = [oid for oid, st in states.items() if not st.live]
        with session_scope(engine) as session:
            for row in rows:
                session.merge(RetentionItem(**row))
            if purged:
                session.execute(delete(RetentionItem).where(RetentionItem.object_id.in_(purged)))
        return f"mirrored {len(rows)} item(s), removed {len(purged)} purged"
    except SQLAlchemyError as exc:
        return f"not mirrored: database error {type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
