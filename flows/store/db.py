"""Engines, migrations and sessions for the ops store.

One function per need: `make_engine(url)` (SQLite tuned for a single-host writer, PostgreSQL through
psycopg 3), `upgrade(url)` (Alembic to head, programmatically: no alembic.ini needed at run time),
`session_scope(engine)` (one transaction; commit on success, roll back on any error).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BEGIN_MODES = {"DEFERRED": "DEFERRED", "IMMEDIATE": "IMMEDIATE"}


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here (SQLAlchemy's default driver is psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`. SQLite: WAL, foreign keys on, busy timeout, and real BEGIN/COMMIT (the sqlite3
    module's implicit transactions would otherwise leave DDL and reads outside the transaction)."""
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {SQLITE_BEGIN_MODES[mode]}")

        return engine
    if u.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def engine_from_settings() -> Engine:
    """The engine for `COLO_OPS_DB_URL` (default: SQLite under COLO_OPS_HOME/db/)."""
    from core_bridge.settings import load_settings

    return make_engine(load_settings().db_url)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate the database at `target` (URL or engine) to `revision`. Safe to call on every start."""
    from alembic import command

    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def session_scope(engine: Engine, *, readonly: bool = False) -> Iterator[Session]:
    """One unit of work: everything inside commits together or not at all.

    On SQLite a unit of work takes the write lock when it begins (BEGIN IMMEDIATE): a transaction that
    read first and writes later would otherwise fail outright ("database is locked", which the busy timeout
    cannot cure) whenever another writer committed in between. `readonly=True` keeps the lock-free BEGIN.
    """
    bind = engine if readonly else engine.execution_options(sqlite_begin="IMMEDIATE")
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
