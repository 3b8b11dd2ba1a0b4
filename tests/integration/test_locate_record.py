"""The locate log as the Rule 203(b)(1) record: locates_<date>.csv carries for each locate the time obtained,
the account, the source (ETB list file with date and sha256; the lender and confirmation id for a pre-borrow),
the quantity granted and every consuming short sale (time, shares, order, account); an ETB list older than
24 hours at the close is refused as a source with the reason, and no ETB locate is granted from it."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from core_bridge.protocol import Side
from flows.clearing.runs import run_locates, run_regsho_report
from flows.errors import StaleInputError
from flows.sources.sftp import LocalDirSource
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import Execution, LocateLog
from hw.clearing_twin import files, lists, publisher
from hw.clearing_twin.book import initial_book
from hw.refdata import SECURITIES_BY_SYMBOL
from reports.regsho import CSV_COLUMNS

DAY = dt.date(2026, 11, 20)
GRANT = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def _fill(seq: int, symbol: str, qty: int, at: dt.datetime, order_id: int, account: str = "PROP01") -> Execution:
    return Execution(epoch=1, seq=seq, trade_date=DAY, ts_ns=int(at.timestamp()) * 1_000_000_000 + 123, account=account,
                     symbol=symbol, side=int(Side.SHORT), venue=1, qty=qty, price=1_000_000, leaves_qty=0,
                     order_id=order_id, venue_order_id=seq, exec_id=seq)


def _world(tmp_path: Path, sqlite_url: str) -> tuple[Path, Path, object]:
    root, home = tmp_path / "served", tmp_path / "home"
    publisher.publish_sod(root, DAY, initial_book())
    for back in range(4):
        publisher.publish_threshold_lists(root, DAY - dt.timedelta(days=back))
    upgrade(sqlite_url)
    return root, home, make_engine(sqlite_url)


def test_locate_record_when_shorts_consume_locates_then_each_row_names_time_source_account_and_consumers(
        tmp_path: Path, sqlite_url: str) -> None:
    root, home, engine = _world(tmp_path, sqlite_url)
    run_locates(engine, LocalDirSource(root), DAY, home, None, now=GRANT)
    with session_scope(engine) as s:  # type: ignore[arg-type]
        s.add_all([_fill(1, "AAPL", 100, dt.datetime(2026, 11, 20, 14, 31, tzinfo=dt.UTC), 7),
                   _fill(2, "AAPL", 50, dt.datetime(2026, 11, 20, 15, 2, tzinfo=dt.UTC), 9, "PROP02"),
                   _fill(3, "INTC", 200, dt.datetime(2026, 11, 20, 15, 5, tzinfo=dt.UTC), 11)])
    out = home / "reports" / DAY.isoformat()
    run_regsho_report(engine, DAY, out)  # type: ignore[arg-type]
    path = out / "regsho" / f"locates_{DAY}.csv"
    rows = {r["symbol"]: r for r in csv.DictReader(path.open())}
    assert tuple(next(csv.reader(path.open()))) == CSV_COLUMNS
    etb_file = publisher.day_dir(root, DAY) / f"etb_{DAY:%Y%m%d}.txt"
    aapl = rows["AAPL"]
    assert aapl["obtained_utc"] == "2026-11-20T11:00:00.000000Z" and aapl["account"] == "FIRM"
    assert (aapl["method"], aapl["source_file"], aapl["source_date"]) == ("etb", etb_file.name, "2026-11-20")
    assert aapl["source_sha256"] == hashlib.sha256(etb_file.read_bytes()).hexdigest()
    assert (aapl["granted"], aapl["used"]) == (str(lists.ETB_AVAILABLE), "150")
    assert aapl["consumed_by"] == ("2026-11-20T14:31:00.000000123Z 100 order 7 PROP01; "
                                   "2026-11-20T15:02:00.000000123Z 50 order 9 PROP02")
    intc = rows["INTC"]  # on the clearer's pre-borrow list: the lender and its confirmation
    assert (intc["method"], intc["lender"], intc["confirmation_id"]) == (
        "preborrow", "CLEARTWIN", f"preborrow_{DAY:%Y%m%d}.txt#INTC")
    assert intc["consumed_by"] == "2026-11-20T15:05:00.000000123Z 200 order 11 PROP01"
    html = (out / "regsho" / f"regsho_{DAY}.html").read_text()
    assert aapl["source_sha256"] in html  # the report's header states its sources


def test_locates_when_the_etb_list_is_older_than_24_hours_then_refused_with_the_reason_and_no_etb_grant(
        tmp_path: Path, sqlite_url: str) -> None:
    root, home, engine = _world(tmp_path, sqlite_url)
    etb = {s: (SECURITIES_BY_SYMBOL[s].cusip, lists.ETB_AVAILABLE) for s in lists.etb_symbols()}
    old = dt.datetime(2026, 11, 19, 9, 0, tzinfo=dt.UTC)  # dated today, created 36 h before today's close
    (publisher.day_dir(root, DAY) / f"etb_{DAY:%Y%m%d}.txt").write_bytes(files.etb_file(DAY, lists.CLEARER, etb, old))
    with pytest.raises(StaleInputError, match=r"36\.0 h old at the 2026-11-20 close, over the 24 h"):
        run_locates(engine, LocalDirSource(root), DAY, home, None, now=GRANT)
    with session_scope(engine) as s:  # type: ignore[arg-type]
        methods = {r.symbol: r.method for r in s.scalars(select(LocateLog).where(LocateLog.business_date == DAY))}
    assert "AAPL" not in methods and methods["INTC"] == "preborrow"  # the pre-borrow still stands
