"""Positions loader: what lands in `sod_positions` is exactly what the file says, on SQLite and PostgreSQL
(binary COPY with text of varying lengths, several COPY chunks), and a rejected load leaves nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

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


def _load(url: str, path: Path) -> int:
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            row = IngestedFile(source="clearing.positions", name=path.name, business_date=DAY, sha256="a" * 64,
                               size=0, status="loaded", records=0, loaded_at=RUN_TS)
            s.add(row)
            s.flush()
            return load_positions(s, parse_positions(path), row)
    finally:
        engine.dispose()


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
    core = {a.clearing_account: a.account for a in ACCOUNTS}
    want = sorted((DAY, core[r.clearing_account], r.cusip, r.symbol, r.td_qty, r.sd_qty, r.price) for r in rows)
    assert sorted(_stored(db_url)) == want


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
