"""The scratch PostgreSQL database a soak or chaos day gives its Prefect server (flows/reliability/prefect_db)."""

from __future__ import annotations

import psycopg

from flows.reliability.prefect_db import DEFAULT_ADMIN, asyncpg_url, scratch_prefect_database


def _exists(name: str) -> bool:
    with psycopg.connect(DEFAULT_ADMIN) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_scratch_database_when_used_then_it_exists_speaks_asyncpg_and_is_dropped_after() -> None:
    with scratch_prefect_database("colo_t_prefect") as url:
        assert url.startswith("postgresql+asyncpg://postgres@127.0.0.1:5432/colo_t_prefect_")
        name = url.rsplit("/", 1)[1]
        assert _exists(name)
        with psycopg.connect(url.replace("+asyncpg", "")) as conn:  # reachable, empty, ours to migrate
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
    assert not _exists(name)


def test_asyncpg_url_when_admin_url_given_then_same_server_other_database() -> None:
    assert asyncpg_url("postgresql://ops@db.example:6432/admin", "x") == "postgresql+asyncpg://ops@db.example:6432/x"
