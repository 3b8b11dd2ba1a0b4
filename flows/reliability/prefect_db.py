"""A scratch PostgreSQL database for the Prefect server of a soak or chaos day.

Why: the embedded server's SQLite file serialises every writer; over a long day with a worker, its
heartbeats and a dozen deployments it answers some writes with `database is locked` (a traceback in the
server's log, which the soak counts as a failure). Production runs Prefect on PostgreSQL; so do these runs.
The demo keeps SQLite (nothing to set up). `COLO_OPS_PREFECT_DATABASE_URL` is what the local server reads
(flows/orchestration/local_server.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "COLO_OPS_PREFECT_DATABASE_URL"
ADMIN_ENV = "COLO_OPS_SOAK_PG"  # where scratch databases are created (trust auth on loopback by default)
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def asyncpg_url(admin_url: str, name: str) -> str:
    """The SQLAlchemy asyncpg URL of database `name` on the admin URL's server."""
    base = admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{base}/{name}"


@contextmanager
def scratch_prefect_database(prefix: str) -> Iterator[str]:
    """Create a uniquely named database, yield its asyncpg URL, drop it afterwards (closing leftover sessions)."""
    import psycopg

    admin = os.environ.get(ADMIN_ENV, DEFAULT_ADMIN)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield asyncpg_url(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND pid <> pg_backend_pid()", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
