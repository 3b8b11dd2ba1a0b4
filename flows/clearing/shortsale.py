"""Reg SHO inputs and locate availability as plain functions.

Availability rule (one function, `availability`), per symbol, for trade date T:
- on the clearer's Rule 204(b) pre-borrow list → the shares pre-borrowed for the firm (0 if none);
- else on any exchange's threshold list for the settlement day before T → 0 (SEC Reg SHO FAQ 4.2: an ETB
  list is no reasonable ground for names with delivery failures; a specific locate is needed);
- else on the clearer's ETB list → the shares the list reports;
- any other symbol is not pushed, and the core treats it as 0 (LOCATE_UNAVAILABLE).
Threshold lists: the lists dated the last settlement day before T (walking back over weekends and bank
holidays, when exchanges publish nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from flows.clearing.ingest import IngestResult, ingest
from flows.clearing.loaders import load_short_list, load_threshold_list
from flows.sources.delimited_formats import parse_short_list, parse_threshold_list
from flows.sources.sftp import FileSource
from flows.store.db import session_scope
from flows.store.models import Locate, ShoListEntry, ShoListType

# Exchange threshold lists: market name as stored -> remote file name pattern on the source.
THRESHOLD_FILES = {
    "NASDAQ": "regsho/nasdaqth{ymd}.txt",
    "NYSE": "regsho/NYSEth{ymd}.txt",
    "NYSE American": "regsho/NYSEAmericanth{ymd}.txt",
    "NYSE Arca": "regsho/NYSEArcath{ymd}.txt",
}


def ingest_short_lists(engine: Engine, source: FileSource, day: dt.date, home: Path) -> list[IngestResult]:
    out = []
    for kind in ("etb", "preborrow"):
        out.append(ingest(
            engine, source, f"outgoing/{day:%Y%m%d}/{kind}_{day:%Y%m%d}.txt", kind=f"clearing.{kind}",
            business_date=day, home=home,
            check=lambda p, k=kind: (parse_short_list(p, k, day), None),  # type: ignore[misc]
            load=load_short_list,
        ))
    return out


def ingest_threshold_lists(engine: Engine, source: FileSource, list_day: dt.date, home: Path) -> list[IngestResult]:
    out = []
    for market, pattern in THRESHOLD_FILES.items():
        out.append(ingest(
            engine, source, pattern.format(ymd=f"{list_day:%Y%m%d}"), kind=f"regsho.{market}",
            business_date=list_day, home=home,
            check=lambda p, m=market: (parse_threshold_list(p, m), None),  # type: ignore[misc]
            load=load_threshold_list,
        ))
    return out


@dataclass(frozen=True)
class Grant:
    symbol: str
    cusip: str
    granted: int
    method: str  # etb | preborrow | specific
    source: str


def availability(etb: Mapping[str, tuple[str, int]], preborrow: Mapping[str, tuple[str, int]],
                 threshold: set[str]) -> dict[str, Grant]:
    out: dict[str, Grant] = {}
    for sym in sorted(set(etb) | set(preborrow) | threshold):
        if sym in preborrow:
            cusip, qty = preborrow[sym]
            out[sym] = Grant(sym, cusip, qty, "preborrow", "pre-borrow list")
        elif sym in threshold:
            cusip = etb[sym][0] if sym in etb else ""
            out[sym] = Grant(sym, cusip, 0, "specific", "threshold list: specific locate needed")
        else:
            cusip, qty = etb[sym]
            out[sym] = Grant(sym, cusip, qty, "etb", "ETB list")
    return out


def lists_from_store(engine: Engine, day: dt.date, threshold_day: dt.date) -> dict[str, Any]:
    with session_scope(engine) as s:
        loc = s.execute(select(Locate.source, Locate.symbol, Locate.cusip, Locate.available)
                        .where(Locate.business_date == day)).all()
        thr = s.execute(select(ShoListEntry.symbol).where(
            ShoListEntry.business_date == threshold_day,
            ShoListEntry.list_type == ShoListType.THRESHOLD.value)).scalars().all()
    etb = {sym: (c, int(q)) for src, sym, c, q in loc if src == ShoListType.ETB.value}
    pre = {sym: (c, int(q)) for src, sym, c, q in loc if src == ShoListType.PREBORROW.value}
    return {"etb": etb, "preborrow": pre, "threshold": set(thr)}
