"""Per-day partitions of `sod_positions` on PostgreSQL (migration 0002), and what schema tools must skip.

On PostgreSQL `sod_positions` is LIST-partitioned by business_date: one partition per loaded day, named
`sod_positions_YYYYMMDD` and created by the positions loader, plus `sod_positions_default` for rows of days
without a partition of their own. The partitions are physical storage of the one modelled table, not tables
of the model: schema comparisons (Alembic autogenerate, the models-vs-migrations test) look at the parent
only, which carries every column, constraint and index, and PostgreSQL clones those onto each partition.
SQLite has a plain `sod_positions` table and no partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

SOD_POSITIONS = "sod_positions"
SOD_POSITIONS_DEFAULT = "sod_positions_default"


def sod_positions_partition(day: dt.date) -> str:
    """The partition holding `day`'s positions (migration 0002 names the partitions it creates the same way)."""
    return f"{SOD_POSITIONS}_{day:%Y%m%d}"


def is_partitioned(conn: Connection, table: str) -> bool:
    """True when `table` is a partitioned table (PostgreSQL relkind 'p'); False on SQLite or if plain."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:t)"),
                             {"t": table}).scalar())


def partition_tables(conn: Connection) -> frozenset[str]:
    """Names of the tables in the current schema that are partitions of another table (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return frozenset()
    rows = conn.execute(text("SELECT relname FROM pg_class WHERE relispartition AND relkind IN ('r', 'p', 'f') "
                             "AND relnamespace = current_schema()::regnamespace"))  # not the partitions' indexes
    return frozenset(rows.scalars())


def include_name(conn: Connection) -> Callable[..., bool]:
    """Alembic `include_name` hook: every reflected name except partitions (see the module docstring)."""
    partitions = partition_tables(conn)

    def _include(name: str | None, type_: str, _parents: Mapping[str, Any]) -> bool:
        return not (type_ == "table" and name in partitions)

    return _include
