"""Load validated clearing and exchange files into the ops store (inside the ingest transaction).

Positions go in bulk: PostgreSQL binary `COPY` built by numpy through the session's own psycopg connection
(same transaction, ~1.8 M rows/s), SQLite `executemany` on the raw DB-API cursor. A newer file for the same
date replaces that date's rows (a clearer's corrected file); the same file twice never gets here (ingested_files).

On PostgreSQL `sod_positions` is partitioned by business date (migration 0002) and a day is loaded as a whole
partition: COPY into a standalone table (no indexes, no foreign key, a CHECK on the date), then ATTACH it.
The server then builds the partition's indexes in bulk and checks the file_id foreign key with one query,
instead of an index insert per row per index and an RI trigger per row (~3 s per million rows) during COPY.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flows.errors import FileRejectedError
from flows.sources.delimited_formats import BalancesFile, ShortListFile, ThresholdFile
from flows.sources.positions_format import PositionsFile
from flows.store.models import (
    Account,
    IngestedFile,
    Locate,
    ShoListEntry,
    ShoListType,
    SodBalance,
    SodPosition,
)
from flows.store.partitions import SOD_POSITIONS, is_partitioned, sod_positions_partition


def clearing_accounts(session: Session) -> dict[str, str]:
    """clearing account number -> core account code: the store's accounts table, else hw.refdata's."""
    rows = session.execute(select(Account.clearing_account, Account.account)).all()
    if rows:
        return {c: a for c, a in rows}
    from hw.refdata import ACCOUNTS

    return {a.clearing_account: a.account for a in ACCOUNTS}


PG_DATE_EPOCH = dt.date(2000, 1, 1)
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # + flags, header ext
COPY_TRAILER = b"\xff\xff"
_INT = {"int4": ">i4", "int8": ">i8", "date": ">i4"}


def binary_copy_chunks(columns: list[tuple[str, np.ndarray]], chunk_rows: int = 65_536) -> Iterator[bytes]:
    """PostgreSQL `COPY ... (FORMAT BINARY)` stream of equal-length columns, built by numpy per chunk.

    Kinds: int4, int8, date (int days since 2000-01-01) and text (an `S` array of ASCII, NUL padded). Each
    chunk is one structured array laid out like the wire tuples (int16 field count, then int32 length +
    big-endian value per field); text is written at full width and, when a chunk's lengths differ, the
    padding is cut out with one boolean mask over the chunk's bytes. No Python object per row or field.
    """
    n = len(columns[0][1])
    fields: list[tuple[str, str]] = [("nf", ">i2")]
    for i, (kind, values) in enumerate(columns):
        fields += [(f"l{i}", ">i4"), (f"v{i}", f"S{values.dtype.itemsize}" if kind == "text" else _INT[kind])]
    row = np.dtype(fields)
    layout = row.fields
    assert layout is not None
    lengths = {i: np.strings.str_len(v).astype(np.int32) for i, (kind, v) in enumerate(columns) if kind == "text"}
    buf = np.empty(min(n, chunk_rows), dtype=row)
    buf["nf"] = len(columns)
    for i, (kind, _v) in enumerate(columns):
        if kind != "text":
            buf[f"l{i}"] = np.dtype(_INT[kind]).itemsize
    yield COPY_SIGNATURE
    for a in range(0, n, chunk_rows):
        b = min(n, a + chunk_rows)
        part = buf[: b - a]
        squeeze = []
        for i, (kind, values) in enumerate(columns):
            part[f"v{i}"] = values[a:b]
            if kind == "text":
                ln = lengths[i][a:b]
                part[f"l{i}"] = ln
                width = values.dtype.itemsize
                if int(ln.min()) != width:
                    squeeze.append((layout[f"v{i}"][1], width, ln))
        if not squeeze:
            yield part.tobytes()
            continue
        raw = part.view(np.uint8).reshape(b - a, row.itemsize)
        keep = np.ones(raw.shape, dtype=bool)
        for off, width, ln in squeeze:
            keep[:, off:off + width] = np.arange(width) < ln[:, None]
        yield raw[keep].tobytes()
    yield COPY_TRAILER


def _pg_copy(session: Session, table: str, columns: list[str], chunks: Iterable[bytes]) -> None:
    raw = session.connection().connection.driver_connection
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cur, cur.copy(sql) as cp:  # type: ignore[union-attr]
        for chunk in chunks:
            cp.write(chunk)


def _pg_replace_day(session: Session, day: dt.date, columns: list[str], chunks: Iterable[bytes] | None) -> None:
    """Replace `day` in the partitioned sod_positions with the COPY stream `chunks` (None: no rows), in the
    session's transaction. The COPY goes into a table nobody else can see yet. Locks held from then on until
    commit: dropping the day's previous partition (a re-run) takes an exclusive lock on sod_positions itself;
    ATTACH (index builds and the foreign-key check, ~1 s per million rows) takes SHARE UPDATE EXCLUSIVE on
    sod_positions and an exclusive lock on its DEFAULT partition, so only readers that cannot prune the
    DEFAULT partition (days without a partition of their own, or no date filter) wait for the load."""
    part, lit = sod_positions_partition(day), day.isoformat()
    staging = f"{part}_load"
    run = session.connection().exec_driver_sql
    if chunks is not None:
        # The CHECK is evaluated per row during COPY (cheap) and lets ATTACH skip its scan of the table.
        run(f"CREATE TABLE {staging} (LIKE {SOD_POSITIONS} INCLUDING DEFAULTS, "
            f"CONSTRAINT {part}_day CHECK (business_date = DATE '{lit}'))")
        _pg_copy(session, staging, columns, chunks)
    run(f"DROP TABLE IF EXISTS {part}")  # the day's previous load, whole
    run(f"DELETE FROM {SOD_POSITIONS} WHERE business_date = DATE '{lit}'")  # noqa: S608 - rows in the DEFAULT partition
    if chunks is None:
        return
    run(f"ALTER TABLE {staging} RENAME TO {part}")
    # Clones the parent's indexes (built in bulk) and foreign key (validated by one anti-join) onto the partition.
    run(f"ALTER TABLE {SOD_POSITIONS} ATTACH PARTITION {part} FOR VALUES IN ('{lit}')")
    run(f"ALTER TABLE {part} DROP CONSTRAINT {part}_day")  # implied by the partition bound from now on


def load_positions(session: Session, pf: PositionsFile, file_row: IngestedFile) -> int:
    amap = clearing_accounts(session)
    acc_u, acc_c = pf.encoded("account")  # the few distinct accounts, a code per row
    acc_names = [a.decode("ascii") for a in acc_u.tolist()]
    missing = [i for i, a in enumerate(acc_names) if a not in amap]
    if missing:  # the suite checked this; the store's table may say otherwise
        line = int(pf.raw["line"][np.flatnonzero(acc_c == missing[0])[0]])
        raise FileRejectedError(pf.path, f"unknown account {acc_names[missing[0]]!r}", line=line, field="account")
    core_u = np.array([amap[a].encode("ascii") for a in acc_names] or [b""])
    bdate = file_row.business_date
    n = len(pf)
    cols = ["business_date", "account", "cusip", "symbol", "td_qty", "sd_qty", "price", "file_id"]
    raw = pf.raw

    def pg_chunks() -> Iterator[bytes]:
        return binary_copy_chunks([
            ("date", np.full(n, (bdate - PG_DATE_EPOCH).days, dtype=np.int32)), ("text", core_u[acc_c]),
            ("text", raw["cusip"]), ("text", raw["symbol"]), ("int8", raw["td_quantity"]),
            ("int8", raw["sd_quantity"]), ("int8", raw["price"]), ("int4", np.full(n, file_row.id, dtype=np.int32)),
        ])

    if is_partitioned(session.connection(), SOD_POSITIONS):
        _pg_replace_day(session, bdate, cols, pg_chunks() if n else None)
        return n
    session.execute(delete(SodPosition).where(SodPosition.business_date == bdate))
    if n == 0:
        return 0
    if session.get_bind().dialect.name == "postgresql":  # a plain table (revision 0001's shape)
        _pg_copy(session, SOD_POSITIONS, cols, pg_chunks())
    else:
        def per_row(name: str) -> list[str]:  # decode each distinct value once, then spread by the codes
            u, c = pf.encoded(name)
            return np.array([v.decode("ascii") for v in u.tolist()], dtype=object)[c].tolist()  # type: ignore[no-any-return]

        core_names = np.array([amap[a] for a in acc_names], dtype=object)
        rows = zip(
            [bdate.isoformat()] * n, core_names[acc_c].tolist(), per_row("cusip"), per_row("symbol"),
            raw["td_quantity"].tolist(), raw["sd_quantity"].tolist(), raw["price"].tolist(), [file_row.id] * n,
            strict=True,
        )
        conn = session.connection().connection.driver_connection
        cur = conn.cursor()  # type: ignore[union-attr]
        sql = f"INSERT INTO sod_positions ({', '.join(cols)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        cur.executemany(sql, rows)
        cur.close()
    return n


def load_balances(session: Session, bf: BalancesFile, file_row: IngestedFile) -> int:
    amap = clearing_accounts(session)
    bdate = file_row.business_date
    session.execute(delete(SodBalance).where(SodBalance.business_date == bdate))
    for r in bf.rows:
        if r.account_id not in amap:
            raise FileRejectedError(bf.path, f"unknown account {r.account_id!r}", line=r.line, field="account_id")
        v = r.values
        session.add(SodBalance(
            business_date=bdate, account=amap[r.account_id], cash=v["trade_cash_balance"],
            long_market_value=v["long_market_value"], short_market_value=v["short_market_value"],
            equity=v["equity"], buying_power=v["dtbp"], file_id=file_row.id,
        ))
    return len(bf.rows)


def _replace_list(session: Session, bdate: dt.date, list_type: str, market: str, symbols: Iterable[str]) -> int:
    session.execute(delete(ShoListEntry).where(
        ShoListEntry.business_date == bdate, ShoListEntry.list_type == list_type, ShoListEntry.market == market))
    n = 0
    for sym in sorted(set(symbols)):
        session.add(ShoListEntry(business_date=bdate, list_type=list_type, market=market, symbol=sym))
        n += 1
    return n


def load_short_list(session: Session, sl: ShortListFile, file_row: IngestedFile) -> int:
    """ETB / pre-borrow: list membership plus the quantity per symbol as a `locates` input row."""
    bdate = file_row.business_date
    list_type = ShoListType.ETB.value if sl.list_type == "etb" else ShoListType.PREBORROW.value
    n = _replace_list(session, bdate, list_type, "CLEARING", sl.rows)
    session.execute(delete(Locate).where(Locate.business_date == bdate, Locate.source == list_type))
    for sym, (cusip, qty) in sorted(sl.rows.items()):
        session.add(Locate(business_date=bdate, symbol=sym, cusip=cusip, available=qty, source=list_type))
    return n


def load_threshold_list(session: Session, tf: ThresholdFile, file_row: IngestedFile) -> int:
    return _replace_list(session, file_row.business_date, ShoListType.THRESHOLD.value, tf.market, tf.symbols)


def balances_frame(bf: BalancesFile):  # -> pandas.DataFrame for the GX balances suite
    import pandas as pd

    recs = []
    for r in bf.rows:
        row: dict[str, object] = {"line": r.line, "date": bf.as_of.isoformat(), "account_id": r.account_id}
        row.update({k: float(v) if isinstance(v, Decimal) else v for k, v in r.values.items()})  # GX compares only
        recs.append(row)
    return pd.DataFrame(recs)
