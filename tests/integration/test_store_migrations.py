"""The ops store schema on both back ends: migrations reach head and agree with the models exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from flows.store.db import alembic_config, current_revision, make_engine, session_scope, upgrade
from flows.store.models import Account, Base, BpSnapshot, FileStatus, IngestedFile, SodPosition
from flows.store.partitions import include_name, partition_tables


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _file(sha: str, day: dt.date, name: str = "pos.csv") -> IngestedFile:
    return IngestedFile(
        source="clearing.positions", name=name, business_date=day, sha256=sha, size=10,
        status=FileStatus.LOADED, loaded_at=dt.datetime(2026, 11, 20, 10, 30, tzinfo=dt.UTC),
    )


def test_upgrade_when_database_empty_then_every_model_table_exists_at_head(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            partitions = partition_tables(conn)
        tables = set(inspect(engine).get_table_names())
        assert tables - partitions == set(Base.metadata.tables) | {"alembic_version"}
        # PostgreSQL lists partitions as tables: at head only sod_positions' DEFAULT partition exists.
        assert partitions == ({"sod_positions_default"} if engine.dialect.name == "postgresql" else set())
        assert current_revision(engine) == _head()
    finally:
        engine.dispose()


def test_compare_when_migrated_to_head_then_models_and_migrations_agree(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            # Skipped: only the per-day partitions of sod_positions (PostgreSQL), which the loader creates and
            # drops at run time. They are storage of the one modelled table; its parent is compared in full
            # (columns, types, server defaults, unique constraints, foreign keys, indexes) and PostgreSQL clones
            # all of that onto every partition. Alembic never compares primary keys: the PostgreSQL-only key
            # of sod_positions, (id, business_date), is asserted in the partitioning test below.
            ctx = MigrationContext.configure(conn, opts={
                "compare_type": True, "compare_server_default": True, "include_name": include_name(conn)})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_when_run_again_or_downgraded_then_idempotent_and_reversible(db_url: str) -> None:
    from alembic import command

    upgrade(db_url)
    upgrade(db_url)  # every start calls it: a no-op at head
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == _head()
    finally:
        engine.dispose()


def test_session_scope_when_body_raises_then_nothing_is_committed(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with pytest.raises(RuntimeError), session_scope(engine) as s:
            s.add(Account(account="PROP01", clearing_account="3PX00101", fdid="PROPMM01"))
            s.flush()
            raise RuntimeError("boom")
        with session_scope(engine) as s:
            assert s.scalars(select(Account)).all() == []
            s.add(Account(account="PROP01", clearing_account="3PX00101", fdid="PROPMM01"))
        with session_scope(engine) as s:
            assert [a.account for a in s.scalars(select(Account))] == ["PROP01"]
    finally:
        engine.dispose()


def test_ingested_files_when_same_content_same_date_then_unique_violation(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    day = dt.date(2026, 11, 20)
    try:
        with session_scope(engine) as s:
            s.add(_file("a" * 64, day))
            s.add(_file("a" * 64, day + dt.timedelta(days=1)))  # same bytes, another date: allowed
        with pytest.raises(IntegrityError), session_scope(engine) as s:
            s.add(_file("a" * 64, day, name="renamed.csv"))
        with pytest.raises(IntegrityError), session_scope(engine) as s:
            bad = _file("b" * 64, day)
            bad.status = "maybe"  # CHECK constraint: only loaded/rejected/quarantined
            s.add(bad)
        with session_scope(engine) as s:
            assert len(s.scalars(select(IngestedFile)).all()) == 2
    finally:
        engine.dispose()


def test_store_types_when_round_tripped_then_money_exact_and_times_aware_utc(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    ny = dt.timezone(dt.timedelta(hours=-5))
    as_of = dt.datetime(2026, 11, 20, 9, 25, 0, 123456, tzinfo=ny)
    try:
        with session_scope(engine) as s:
            s.add(BpSnapshot(
                business_date=dt.date(2026, 11, 20), as_of=as_of, account="PROP01",
                clearing_bp=Decimal("123456789012.3456"), house_bp=Decimal("0.0001"), haircut_used=Decimal("-5"),
                reserve=Decimal("1000000.50"), available=Decimal("922337203685477.5807"), status="ok",
            ))
        with session_scope(engine) as s:
            snap = s.scalars(select(BpSnapshot)).one()
            assert snap.as_of == as_of and snap.as_of.tzinfo == dt.UTC
            assert snap.clearing_bp == Decimal("123456789012.3456")
            assert snap.house_bp == Decimal("0.0001")
            assert snap.haircut_used == Decimal("-5")
            assert snap.available == Decimal("922337203685477.5807")
        with pytest.raises(Exception, match="naive"), session_scope(engine) as s:
            s.add(BpSnapshot(
                business_date=dt.date(2026, 11, 20), as_of=dt.datetime(2026, 11, 20, 9, 30), account="PROP02",
                clearing_bp=1, house_bp=1, haircut_used=0, reserve=0, available=1, status="ok",
            ))
        with pytest.raises(Exception, match="4 decimals"), session_scope(engine) as s:
            s.add(BpSnapshot(
                business_date=dt.date(2026, 11, 20), as_of=as_of, account="PROP03",
                clearing_bp=Decimal("0.00001"), house_bp=1, haircut_used=0, reserve=0, available=1, status="ok",
            ))
        with pytest.raises(Exception, match="out of range"), session_scope(engine) as s:
            s.add(BpSnapshot(
                business_date=dt.date(2026, 11, 20), as_of=as_of, account="PROP03",
                clearing_bp=Decimal("922337203685477.5808"), house_bp=1, haircut_used=0, reserve=0, available=1,
                status="ok",
            ))
    finally:
        engine.dispose()


def test_make_engine_when_sqlite_then_wal_foreign_keys_and_busy_timeout(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_session_scope_when_open_on_sqlite_then_holds_write_lock_unless_readonly(sqlite_url: str) -> None:
    import sqlite3

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        with session_scope(engine) as s:
            s.scalars(select(Account)).all()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        with session_scope(engine, readonly=True) as s:
            s.scalars(select(Account)).all()
            other.execute("BEGIN IMMEDIATE")  # a reader does not keep writers out
            other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def _sod_positions_shape(engine: Engine) -> dict[str, object]:
    """sod_positions as reflected: columns (name, type, nullable, default), keys, constraints, indexes."""
    insp = inspect(engine)
    return {
        "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in insp.get_columns("sod_positions")],
        "pk": insp.get_pk_constraint("sod_positions"),
        "fks": insp.get_foreign_keys("sod_positions"),
        "uniques": sorted(insp.get_unique_constraints("sod_positions"), key=lambda u: str(u["name"])),
        "indexes": sorted(insp.get_indexes("sod_positions"), key=lambda i: str(i["name"])),
    }


def test_sod_positions_when_on_postgresql_then_partitioned_by_day_with_date_in_primary_key(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            key = conn.execute(text("SELECT pg_get_partkeydef('sod_positions'::regclass)")).scalar()
            default = conn.execute(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'sod_positions'::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"
            )).scalars().all()
            fk_on_default = conn.execute(text(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = 'sod_positions_default'::regclass "
                "AND contype = 'f' AND confrelid = 'ingested_files'::regclass")).scalar()
        assert key == "LIST (business_date)"
        assert default == ["sod_positions_default"]
        assert fk_on_default == 1
        pk = inspect(engine).get_pk_constraint("sod_positions")
        assert (pk["name"], pk["constrained_columns"]) == ("pk_sod_positions", ["id", "business_date"])
    finally:
        engine.dispose()


def test_migration_0002_when_rows_exist_then_kept_in_day_partitions_and_downgrade_restores_0001(
        db_url: str) -> None:
    from alembic import command

    days = [dt.date(2026, 11, 19), dt.date(2026, 11, 20)]
    engine = make_engine(db_url)
    pg = engine.dialect.name == "postgresql"
    try:
        upgrade(engine, "0001")
        shape_0001 = _sod_positions_shape(engine)
        with session_scope(engine) as s:
            for k, day in enumerate(days):
                f = _file(str(k) * 64, day)
                s.add(f)
                s.flush()
                s.add_all([SodPosition(business_date=day, account="PROP01", cusip=f"C{k}{i:07d}", symbol=f"S{i}",
                                       td_qty=i, sd_qty=-i, price=100 + i, file_id=f.id) for i in range(5)])
        cols = "id, business_date, account, cusip, symbol, td_qty, sd_qty, price, file_id"
        with engine.connect() as conn:
            before = sorted(conn.execute(text(f"SELECT {cols} FROM sod_positions")).all())  # noqa: S608
        assert len(before) == 10

        upgrade(engine)
        with engine.connect() as conn:
            assert sorted(conn.execute(text(f"SELECT {cols} FROM sod_positions")).all()) == before  # noqa: S608
            if pg:
                where = dict(conn.execute(text(
                    "SELECT tableoid::regclass::text, count(*) FROM sod_positions GROUP BY 1")).all())
                assert where == {"sod_positions_20261119": 5, "sod_positions_20261120": 5}
        with session_scope(engine) as s:  # ids keep coming from the same sequence, after the moved rows
            f = _file("9" * 64, dt.date(2026, 11, 23))
            s.add(f)
            s.flush()
            new = SodPosition(business_date=f.business_date, account="PROP01", cusip="C9", symbol="S",
                              td_qty=1, sd_qty=1, price=1, file_id=f.id)
            s.add(new)
            s.flush()
            assert new.id > max(r[0] for r in before)

        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        assert current_revision(engine) == "0001"
        assert _sod_positions_shape(engine) == shape_0001
        with engine.connect() as conn:
            after = sorted(conn.execute(text(f"SELECT {cols} FROM sod_positions")).all())  # noqa: S608
            assert after[:10] == before and len(after) == 11
            if pg:
                relkind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'sod_positions'")).scalar()
                assert relkind == "r"
                assert partition_tables(conn) == set()
                assert conn.execute(text("SELECT pg_get_serial_sequence('sod_positions', 'id')")).scalar() == (
                    "public.sod_positions_id_seq")
        upgrade(engine)  # and up again
        assert current_revision(engine) == _head()
    finally:
        engine.dispose()
