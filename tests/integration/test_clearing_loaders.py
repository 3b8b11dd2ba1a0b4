"""Positions loader: what lands in `sod_positions` is exactly what the file says, on SQLite and PostgreSQL
(binary COPY with text of varying lengths, several COPY chunks), and a rejected load leaves nothing.
On PostgreSQL a day is one partition, replaced whole by a re-run; the file_id foreign key still holds."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from core_bridge.identifiers import cusip_check_digit
from flows.clearing import loaders
from flows.clearing.loaders import clearing_accounts, load_positions
from flows.errors import FileRejectedError
from flows.sources.positions_format import parse_positions
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import IngestedFile, SodPosition
from hw.clearing_twin.files import PositionRow, positions_file
from hw.refdata import ACCOUNTS

DAY = dt.date(2026, 11, 12)
RUN_TS = dt.datetime(2026, 11, 12, 5, 0, tzinfo=dt.UTC)


def _rows(n: int) -> list[PositionRow]:
    out = []
    for i in range(n):
        base = f"9{i:07d}"
        sym = ["A", "BB", "CCC", "DDDD", "EEEEEEEE"][i % 5] + ("" if i % 5 == 4 else str(i % 7))
        out.append(PositionRow(ACCOUNTS[i % len(ACCOUNTS)].clearing_account, base + str(cusip_check_digit(base)),
                               sym, (i % 13 - 6) * 100, (i % 11 - 5) * 100, 1_000_000 + i))
    return out


def _load(url: str, path: Path, sha: str = "a" * 64) -> int:
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            row = IngestedFile(source="clearing.positions", name=path.name, business_date=DAY, sha256=sha,
                               size=0, status="loaded", records=0, loaded_at=RUN_TS)
            s.add(row)
            s.flush()
            return load_positions(s, parse_positions(path), row)
    finally:
        engine.dispose()


def _want(rows: list[PositionRow], day: dt.date = DAY) -> list[tuple]:
    core = {a.clearing_account: a.account for a in ACCOUNTS}
    return sorted((day, core[r.clearing_account], r.cusip, r.symbol, r.td_qty, r.sd_qty, r.price) for r in rows)


def _where(engine: Engine) -> dict[str, int]:
    """Rows per physical table: {partition: rows} on PostgreSQL, {"sod_positions": rows} on SQLite."""
    with engine.connect() as c:
        if engine.dialect.name != "postgresql":
            return {"sod_positions": c.execute(text("SELECT count(*) FROM sod_positions")).scalar_one()}
        return dict(c.execute(text("SELECT tableoid::regclass::text, count(*) FROM sod_positions GROUP BY 1")).all())


def _stored(url: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return [tuple(r) for r in s.execute(select(
                SodPosition.business_date, SodPosition.account, SodPosition.cusip, SodPosition.symbol,
                SodPosition.td_qty, SodPosition.sd_qty, SodPosition.price).order_by(SodPosition.cusip)).all()]
    finally:
        engine.dispose()


def test_load_positions_when_valid_file_then_rows_stored_exactly(db_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real = loaders.binary_copy_chunks
    monkeypatch.setattr(loaders, "binary_copy_chunks", lambda cols: real(cols, chunk_rows=97))  # many chunks
    rows = _rows(1_000)
    path = tmp_path / "sod.txt"
    path.write_bytes(positions_file("SOD", DAY, rows, RUN_TS))
    assert _load(db_url, path) == 1_000
    assert sorted(_stored(db_url)) == _want(rows)


def test_load_positions_when_account_unknown_to_store_then_rejected_with_line_and_nothing_stored(
        db_url: str, tmp_path: Path) -> None:
    rows = _rows(20)
    rows[7] = PositionRow("9ZZ99999", rows[7].cusip, "ZZ", 100, 100, 1)
    path = tmp_path / "sod.txt"
    path.write_bytes(positions_file("SOD", DAY, rows, RUN_TS))
    upgrade(db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as s:
        assert "9ZZ99999" not in clearing_accounts(s)
    engine.dispose()
    with pytest.raises(FileRejectedError) as err:
        _load(db_url, path)
    assert (err.value.line, err.value.field) == (9, "account")
    assert _stored(db_url) == []


def test_load_positions_when_on_postgresql_then_the_day_is_its_own_partition_with_the_foreign_key(
        pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "sod.txt"
    path.write_bytes(positions_file("SOD", DAY, _rows(300), RUN_TS))
    assert _load(pg_url, path) == 300
    engine = make_engine(pg_url)
    try:
        assert _where(engine) == {"sod_positions_20261112": 300}
        with engine.connect() as c:
            bound = c.execute(text("SELECT pg_get_expr(relpartbound, oid) FROM pg_class "
                                   "WHERE relname = 'sod_positions_20261112'")).scalar()
            checks = c.execute(text("SELECT contype, conname FROM pg_constraint "
                                    "WHERE conrelid = 'sod_positions_20261112'::regclass ORDER BY 1, 2")).all()
            indexes = c.execute(text("SELECT count(*) FROM pg_index "
                                     "WHERE indrelid = 'sod_positions_20261112'::regclass")).scalar()
        assert bound == "FOR VALUES IN ('2026-11-12')"
        # The parent's foreign key, primary key and unique constraint, cloned; the loader's CHECK is gone.
        assert [t for t, _n in checks] == ["f", "p", "u"]
        assert indexes == 3  # primary key, unique (business_date, account, cusip), file_id
    finally:
        engine.dispose()


def test_load_positions_when_same_date_loaded_again_then_the_day_is_replaced_whole(
        db_url: str, tmp_path: Path) -> None:
    first, corrected = _rows(400), _rows(250)[::-1]
    corrected = [dataclasses.replace(r, td_qty=r.td_qty + 7) for r in corrected]
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(positions_file("SOD", DAY, first, RUN_TS))
    b.write_bytes(positions_file("SOD", DAY, corrected, RUN_TS))
    other_day = dt.date(2026, 11, 13)
    _load(db_url, a, sha="1" * 64)
    engine = make_engine(db_url)
    try:
        _seed_orm_row(engine, other_day, "x")  # another day, through the ORM (PostgreSQL: the DEFAULT partition)
        assert _load(db_url, b, sha="2" * 64) == 250
        assert sorted(r for r in _stored(db_url) if r[0] == DAY) == _want(corrected)
        assert _load(db_url, a, sha="3" * 64) == 400  # and back: no duplicates, exactly the first file again
        assert sorted(r for r in _stored(db_url) if r[0] == DAY) == _want(first)
        with engine.connect() as c:
            by_file = dict(c.execute(text("SELECT f.sha256, count(p.id) FROM ingested_files f "
                                          "LEFT JOIN sod_positions p ON p.file_id = f.id GROUP BY 1")).all())
        assert by_file == {"1" * 64: 0, "2" * 64: 0, "3" * 64: 400, "x" * 64: 1}
        if engine.dialect.name == "postgresql":
            assert _where(engine) == {"sod_positions_20261112": 400, "sod_positions_default": 1}
    finally:
        engine.dispose()


def _seed_orm_row(engine: Engine, day: dt.date, tag: str) -> None:
    """One position for `day` inserted through the ORM, with its ingested-file row (sha256 = tag * 64)."""
    with session_scope(engine) as s:
        f = IngestedFile(source="clearing.positions", name=tag, business_date=day, sha256=tag * 64,
                         size=0, status="loaded", records=1, loaded_at=RUN_TS)
        s.add(f)
        s.flush()
        s.add(SodPosition(business_date=day, account="PROP01", cusip="037833100", symbol="AAPL",
                          td_qty=1, sd_qty=1, price=1, file_id=f.id))


def test_load_positions_when_the_day_had_orm_rows_then_they_are_replaced_too(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        _seed_orm_row(engine, DAY, "s")  # e.g. a test seed: rows for DAY before any partition exists for it
        rows = _rows(30)
        path = tmp_path / "sod.txt"
        path.write_bytes(positions_file("SOD", DAY, rows, RUN_TS))
        assert _load(db_url, path) == 30
        assert sorted(_stored(db_url)) == _want(rows)
        if engine.dialect.name == "postgresql":
            assert _where(engine) == {"sod_positions_20261112": 30}
    finally:
        engine.dispose()


def test_load_positions_when_transaction_fails_after_loading_then_the_previous_load_stays(
        db_url: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(positions_file("SOD", DAY, _rows(40), RUN_TS))
    b.write_bytes(positions_file("SOD", DAY, _rows(60), RUN_TS))
    _load(db_url, a, sha="1" * 64)
    engine = make_engine(db_url)
    try:
        with pytest.raises(RuntimeError), session_scope(engine) as s:
            row = IngestedFile(source="clearing.positions", name="b.txt", business_date=DAY, sha256="2" * 64,
                               size=0, status="loaded", records=0, loaded_at=RUN_TS)
            s.add(row)
            s.flush()
            assert load_positions(s, parse_positions(b), row) == 60
            raise RuntimeError("the ingest transaction fails later on")
        assert sorted(_stored(db_url)) == _want(_rows(40))
        if engine.dialect.name == "postgresql":
            assert _where(engine) == {"sod_positions_20261112": 40}
            with engine.connect() as c:  # the staging table went with the rolled-back transaction
                assert c.execute(text("SELECT to_regclass('sod_positions_20261112_load')")).scalar() is None
    finally:
        engine.dispose()


def _insert_unknown_file_id(engine: Engine, table: str, day: dt.date) -> None:
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO {table} (business_date, account, cusip, symbol, td_qty, sd_qty, price, "  # noqa: S608
                       "file_id) VALUES (:d, 'PROP01', '99999999X', 'ZZ', 1, 1, 1, 424242)"), {"d": day})


def test_sod_positions_when_file_id_unknown_or_file_deleted_then_foreign_key_violation(
        db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "sod.txt"
    path.write_bytes(positions_file("SOD", DAY, _rows(10), RUN_TS))
    _load(db_url, path)
    engine = make_engine(db_url)
    try:
        for day in (DAY, dt.date(2026, 11, 13)):  # PostgreSQL: the day's partition, then the DEFAULT partition
            with pytest.raises(IntegrityError, match="(?i)foreign key"):
                _insert_unknown_file_id(engine, "sod_positions", day)
        with pytest.raises(IntegrityError, match="(?i)foreign key"), engine.begin() as c:
            c.execute(text("DELETE FROM ingested_files"))  # still referenced by the loaded day
        assert len(_stored(db_url)) == 10
    finally:
        engine.dispose()


@pytest.mark.parametrize("partition", ["sod_positions_20261112", "sod_positions_default"])
def test_sod_positions_partition_when_written_directly_with_unknown_file_id_then_foreign_key_violation(
        pg_url: str, tmp_path: Path, partition: str) -> None:
    path = tmp_path / "sod.txt"
    path.write_bytes(positions_file("SOD", DAY, _rows(10), RUN_TS))
    _load(pg_url, path)
    engine = make_engine(pg_url)
    try:
        day = DAY if partition.endswith("20261112") else dt.date(2026, 11, 13)
        with pytest.raises(IntegrityError, match="(?i)foreign key"):
            _insert_unknown_file_id(engine, partition, day)
        assert len(_stored(pg_url)) == 10
    finally:
        engine.dispose()
