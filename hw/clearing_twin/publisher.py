"""Publish the clearing twin's files into the directory tree its SFTP server serves.

Layout (paths relative to the served root; YYYYMMDD = the business date):

    outgoing/YYYYMMDD/sod_positions_YYYYMMDD.txt   SOD positions (fixed width)      — before the open
    outgoing/YYYYMMDD/balances_YYYYMMDD.csv        balances (CSV)                   — before the open
    outgoing/YYYYMMDD/etb_YYYYMMDD.txt             easy-to-borrow list              — before the open
    outgoing/YYYYMMDD/preborrow_YYYYMMDD.txt       Rule 204(b) pre-borrow list      — before the open
    outgoing/YYYYMMDD/cns_ftd_YYYYMMDD.txt         CNS fails-to-deliver             — before the open (ftd.py)
    outgoing/YYYYMMDD/eod_positions_YYYYMMDD.txt   EOD positions (fixed width)      — after the close
    outgoing/YYYYMMDD/trades_YYYYMMDD.csv          the day's trades (CSV)           — after the close
    regsho/nasdaqthYYYYMMDD.txt, regsho/NYSEthYYYYMMDD.txt, regsho/NYSEAmericanthYYYYMMDD.txt,
    regsho/NYSEArcathYYYYMMDD.txt                  exchanges' threshold lists       — evening of a settlement day

Files are written to a dot-temp name and renamed, as a careful SFTP server would, and their timestamps are
fixed from the date so a re-published day is byte-identical (same sha256 → not loaded twice).
The twin knows no calendar (hw never imports flows): callers pass the settlement dates.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

from hw.clearing_twin import files, lists
from hw.clearing_twin.book import Book, Fill, balance_rows, net_fills, position_rows, trade_rows
from hw.refdata import SECURITIES_BY_SYMBOL

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")


def day_dir(root: Path, day: dt.date) -> Path:
    return root / "outgoing" / f"{day:%Y%m%d}"


def _write(path: Path, data: bytes, stamp: dt.datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    ts = stamp.timestamp()
    os.utime(tmp, (ts, ts))
    tmp.replace(path)
    return path


def _stamp(day: dt.date, hour_utc: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour_utc, 0, tzinfo=UTC)


def publish_sod(root: Path, day: dt.date, sod_book: Mapping[str, Mapping[str, int]],
                last_session_fills: Iterable[Fill] = ()) -> list[Path]:
    """SOD positions, balances, ETB and pre-borrow lists for session `day` (files stamped 09:00 UTC)."""
    ts = _stamp(day, 9)
    d = day_dir(root, day)
    unsettled = net_fills(last_session_fills)
    out = [
        _write(d / f"sod_positions_{day:%Y%m%d}.txt",
               files.positions_file("SOD", day, position_rows(sod_book, unsettled), ts), ts),
        _write(d / f"balances_{day:%Y%m%d}.csv", files.balances_file(day, balance_rows(sod_book), ts), ts),
        _write(d / f"etb_{day:%Y%m%d}.txt", files.etb_file(
            day, lists.CLEARER,
            {s: (SECURITIES_BY_SYMBOL[s].cusip, lists.ETB_AVAILABLE) for s in lists.etb_symbols()}, ts), ts),
        _write(d / f"preborrow_{day:%Y%m%d}.txt", files.preborrow_file(
            day, lists.CLEARER,
            {s: (SECURITIES_BY_SYMBOL[s].cusip, day - dt.timedelta(days=3), q) for s, q in lists.PREBORROW.items()},
            ts), ts),
    ]
    return out


def publish_eod(root: Path, day: dt.date, sod_book: Mapping[str, Mapping[str, int]], fills: Iterable[Fill],
                settlement_date: dt.date, last_session_fills: Iterable[Fill] = (),
                short_qualifiers: Mapping[int, str] | None = None) -> tuple[Book, list[Path]]:
    """EOD positions and the trade file for `day` (stamped 22:00 UTC); returns the EOD book (= next SOD)."""
    from hw.clearing_twin.book import apply_fills

    fills = list(fills)
    ts = _stamp(day, 22)
    eod = apply_fills(sod_book, fills)
    # At the close, today's fills and the last session's (settling today, after the night cycle) are unsettled.
    unsettled = apply_fills(net_fills(last_session_fills), fills)
    locate_ids = {s: (f"L{day:%Y%m%d}-{s}", f"ETB list of {lists.CLEARER} dated {day:%Y%m%d}")
                  for s in lists.etb_symbols()}
    locate_ids |= {s: (f"L{day:%Y%m%d}-{s}", f"pre-borrow {lists.CLEARER}") for s in lists.PREBORROW}
    d = day_dir(root, day)
    paths = [
        _write(d / f"eod_positions_{day:%Y%m%d}.txt",
               files.positions_file("EOD", day, position_rows(eod, unsettled), ts), ts),
        _write(d / f"trades_{day:%Y%m%d}.csv",
               files.trades_file(day, trade_rows(day, settlement_date, fills, short_qualifiers or {}, locate_ids), ts),
               ts),
    ]
    return eod, paths


def threshold_rows(market: str) -> list[files.ThresholdRow]:
    rows = [files.ThresholdRow(s, f"{s} Common Stock",
                               {"Q": "Q", "N": "NYSE", "P": "NYSE Arca"}[market])
            for s in lists.THRESHOLD_TRADED.get(market, ())]
    rows += [files.ThresholdRow(s, n, c) for s, n, c in lists.THRESHOLD_OTHER.get(market, ())]
    return sorted(rows, key=lambda r: r.symbol)


def publish_threshold_lists(root: Path, settlement_day: dt.date) -> list[Path]:
    """Every exchange's list for one settlement day, published 23:00 ET (stamped 04:00 UTC next day)."""
    ts = _stamp(settlement_day, 4) + dt.timedelta(days=1)
    created = ts.astimezone(NEW_YORK)  # the timestamp line is New York wall clock
    ymd = f"{settlement_day:%Y%m%d}"
    reg = root / "regsho"
    return [
        _write(reg / f"nasdaqth{ymd}.txt", files.nasdaq_threshold_file(threshold_rows("Q"), created), ts),
        _write(reg / f"NYSEth{ymd}.txt", files.nyse_threshold_file(threshold_rows("N")), ts),
        _write(reg / f"NYSEAmericanth{ymd}.txt", files.nyse_threshold_file(threshold_rows("A")), ts),
        _write(reg / f"NYSEArcath{ymd}.txt", files.nyse_threshold_file(threshold_rows("P")), ts),
    ]
