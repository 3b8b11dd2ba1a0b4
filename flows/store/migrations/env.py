"""Alembic environment for the ops store.

Run programmatically by `flows.store.db.upgrade` (which passes an open connection), or by hand for new
revisions: `alembic -c flows/store/alembic.ini revision --autogenerate -m "..."` (URL from COLO_OPS_DB_URL).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection

from flows.store.models import Base
from flows.store.partitions import include_name
from flows.store.types import Money, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Migrations are frozen history: render our TypeDecorators as the plain types they store."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, Money):
        return "sa.BigInteger()"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need table rebuilds
        compare_type=True,
        render_item=render_item,
        include_name=include_name(connection),  # per-day partitions of sod_positions are data, not schema
    )


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from flows.store.db import engine_from_settings, make_engine

    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url) if url else engine_from_settings()
    with engine.begin() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations()
