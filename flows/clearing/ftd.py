"""The clearer's CNS fails-to-deliver file (layout: hw/clearing_twin/ftd.py, docs/clearing_formats.md): read
and checked whole, or rejected with the line and field at fault (ingest quarantines it; nothing is kept).

Checks: the envelope (#CNSFTD header for this clearer, firm and business date; #EOF trailer with the record
count and the sum of QUANTITY), the column header, and every record: a unique FAIL_ID, YYYYMMDD dates with
TRADE_DATE <= SETTLEMENT_DATE <= the business date, a symbol, a CUSIP whose check digit holds, a SALE_TYPE
the close-out table knows (flows/clearing/closeout.py), a positive integer QUANTITY.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from core_bridge.identifiers import is_valid_cusip
from flows.errors import FileRejectedError
from flows.sources.envelope import Envelope, check_totals, parse_date, parse_envelope

FILE_TYPE = "CNSFTD"
COLUMNS = ("FAIL_ID", "SETTLEMENT_DATE", "TRADE_DATE", "SYMBOL", "CUSIP", "SALE_TYPE", "QUANTITY")
KIND = "clearing.ftd"


@dataclass(frozen=True)
class Fail:
    fail_id: str
    settlement_date: dt.date
    trade_date: dt.date
    symbol: str
    cusip: str
    sale_type: str
    quantity: int


@dataclass
class FtdFile:
    path: Path
    envelope: Envelope
    fails: list[Fail] = field(default_factory=list)


def read_ftd_file(path: Path, business_date: dt.date, sale_types: frozenset[str]) -> FtdFile:
    """Parse and check the whole file; raises FileRejectedError(line, field) on the first fault."""
    try:
        text = path.read_bytes().decode("ascii")
    except UnicodeDecodeError as exc:
        raise FileRejectedError(path, f"not ASCII at byte {exc.start}", line=None, field=None) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise FileRejectedError(path, "empty file", line=1, field="record_type")
    env = parse_envelope(lines, path, FILE_TYPE, business_date)
    if len(lines) < 3 or tuple(lines[1].split("|")) != COLUMNS:
        raise FileRejectedError(path, f"line 2 must be the column header {'|'.join(COLUMNS)}", line=2,
                                field="header")
    out = FtdFile(path, env)
    seen: set[str] = set()
    for n, text_line in enumerate(lines[2:-1], start=3):
        out.fails.append(_record(path, n, text_line, business_date, sale_types, seen))
    check_totals(env, path, len(out.fails), sum(f.quantity for f in out.fails), "QUANTITY")
    return out


def _record(path: Path, n: int, line: str, business_date: dt.date, sale_types: frozenset[str],
            seen: set[str]) -> Fail:
    parts = line.split("|")
    if len(parts) != len(COLUMNS):
        raise FileRejectedError(path, f"{len(parts)} fields, expected {len(COLUMNS)}", line=n,
                                field=COLUMNS[min(len(parts), len(COLUMNS) - 1)])
    fid, sd_text, td_text, symbol, cusip, sale, qty_text = parts
    if not fid or fid in seen:
        raise FileRejectedError(path, "empty FAIL_ID" if not fid else f"FAIL_ID {fid!r} repeated", line=n,
                                field="FAIL_ID")
    seen.add(fid)
    sd = parse_date(sd_text, path, n, "SETTLEMENT_DATE")
    td = parse_date(td_text, path, n, "TRADE_DATE")
    if td > sd:
        raise FileRejectedError(path, f"trade date {td} after settlement date {sd}", line=n, field="TRADE_DATE")
    if sd > business_date:
        raise FileRejectedError(path, f"settlement date {sd} after the file's business date {business_date}: "
                                "not a fail yet", line=n, field="SETTLEMENT_DATE")
    if not symbol or not symbol.isascii() or len(symbol) > 8 or symbol != symbol.strip():
        raise FileRejectedError(path, f"symbol {symbol!r} is not 1-8 ASCII characters", line=n, field="SYMBOL")
    if not is_valid_cusip(cusip):
        raise FileRejectedError(path, f"CUSIP {cusip!r} fails its check digit", line=n, field="CUSIP")
    if sale not in sale_types:
        raise FileRejectedError(path, f"SALE_TYPE {sale!r} is not one of {sorted(sale_types)}", line=n,
                                field="SALE_TYPE")
    if not qty_text.isdigit() or int(qty_text) <= 0:
        raise FileRejectedError(path, f"QUANTITY {qty_text!r} is not a positive integer", line=n, field="QUANTITY")
    return Fail(fid, sd, td, symbol, cusip, sale, int(qty_text))
