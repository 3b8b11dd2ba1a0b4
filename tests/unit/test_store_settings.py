"""Where the store lives: COLO_OPS_DB_URL, else SQLite under COLO_OPS_HOME/db/."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.store.db import engine_from_settings, normalize_url


def test_engine_from_settings_when_no_url_then_sqlite_under_home_db(ops_home: Path) -> None:
    engine = engine_from_settings()
    try:
        assert engine.dialect.name == "sqlite"
        assert engine.url.database == str((ops_home / "db" / "colo-ops.sqlite").resolve())
        assert (ops_home / "db").is_dir()
    finally:
        engine.dispose()


def test_engine_from_settings_when_url_set_then_that_database(
    ops_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLO_OPS_DB_URL", f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    engine = engine_from_settings()
    try:
        assert engine.url.database == str(tmp_path / "elsewhere.sqlite")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.sqlite", "sqlite:///x.sqlite"),
    ],
)
def test_normalize_url_when_plain_postgresql_then_psycopg3_driver(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
