"""Delimited clearing and exchange files: balances (CSV), ETB and pre-borrow lists, threshold lists.

Small files (one row per account or per listed name), parsed strictly row by row after the shared
structural checks: required columns present, numbers exact (Decimal / int), dates YYYYMMDD. Every fault
raises FileRejectedError naming the 1-based line and the column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core_bridge.identifiers import is_valid_cusip
from flows.errors import FileRejectedError
from flows.sources.structural import check_text


def _lines(path: Path, raw: bytes | None) -> list[str]:
    raw = path.read_bytes() if raw is None else raw
    lines = check_text(raw, path)
    return [lines.text(i) for i in range(len(lines))]


def _date(text: str, path: Path, line: int, field: str) -> dt.date:
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return dt.datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 - a date, no time
    except ValueError:
        raise FileRejectedError(path, f"not a YYYYMMDD date: {text!r}", line=line, field=field) from None


def _int(text: str, path: Path, line: int, field: str) -> int:
    if not text.isdigit():
        raise FileRejectedError(path, f"not a whole number of shares: {text!r}", line=line, field=field)
    return int(text)


def _decimal(text: str, path: Path, line: int, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FileRejectedError(path, f"not a decimal number: {text!r}", line=line, field=field) from None
    if not value.is_finite():
        raise FileRejectedError(path, f"not a finite number: {text!r}", line=line, field=field)
    return value


def _check_as_of(as_of: dt.date, business_date: dt.date | None, path: Path, line: int, field: str) -> None:
    if business_date is not None and as_of != business_date:
        raise FileRejectedError(path, f"as-of date {as_of} is not the business date {business_date}", line=line,
                                field=field)


# --- balances (Clear Street `bal` style) ----------------------------------------------------------------

BALANCE_COLUMNS = (
    "date", "account_id", "equity", "long_market_value", "short_market_value", "trade_cash_balance",
    "call_amount", "yesterday_call_amount", "multiplier", "exchange_requirement", "house_requirement",
    "dtbp", "yesterday_dtbp",
)
BALANCE_MONEY = BALANCE_COLUMNS[2:]


@dataclass
class BalanceRecord:
    line: int
    account_id: str
    values: dict[str, Decimal]


@dataclass
class BalancesFile:
    path: Path
    as_of: dt.date
    rows: list[BalanceRecord] = field(default_factory=list)


def parse_balances(path: Path, business_date: dt.date | None = None, raw: bytes | None = None,
                   known_accounts: frozenset[str] | None = None) -> BalancesFile:
    lines = _lines(path, raw)
    header = [c.strip().lower() for c in lines[0].split(",")]  # names are case-insensitive, order free
    missing = [c for c in BALANCE_COLUMNS if c not in header]
    if missing:
        raise FileRejectedError(path, f"missing column(s) {', '.join(missing)}", line=1, field=missing[0])
    if len(set(header)) != len(header):
        raise FileRejectedError(path, "duplicate column name", line=1, field="header")
    if len(lines) < 2:
        raise FileRejectedError(path, "no balance rows", line=2, field="account_id")
    idx = {c: header.index(c) for c in BALANCE_COLUMNS}
    out: BalancesFile | None = None
    seen: dict[str, int] = {}
    for n, text in enumerate(lines[1:], start=2):
        cells = text.split(",")
        if len(cells) != len(header):
            raise FileRejectedError(path, f"{len(cells)} values for {len(header)} columns", line=n,
                                    field=header[min(len(cells), len(header) - 1)])
        as_of = _date(cells[idx["date"]].strip(), path, n, "date")
        _check_as_of(as_of, business_date, path, n, "date")
        if out is None:
            out = BalancesFile(path, as_of)
        elif as_of != out.as_of:
            raise FileRejectedError(path, f"date {as_of} differs from the file's {out.as_of}", line=n, field="date")
        acct = cells[idx["account_id"]].strip()
        if not acct:
            raise FileRejectedError(path, "empty account", line=n, field="account_id")
        if known_accounts is not None and acct not in known_accounts:
            raise FileRejectedError(path, f"unknown account {acct!r}", line=n, field="account_id")
        if acct in seen:
            raise FileRejectedError(path, f"duplicate account {acct!r} (first on line {seen[acct]})", line=n,
                                    field="account_id")
        seen[acct] = n
        values = {c: _decimal(cells[idx[c]].strip(), path, n, c) for c in BALANCE_MONEY}
        out.rows.append(BalanceRecord(n, acct, values))
    assert out is not None
    return out


# --- the clearer's short-sale lists ---------------------------------------------------------------------


@dataclass
class ShortListFile:
    path: Path
    list_type: str  # etb | preborrow
    clearer: str
    as_of: dt.date
    rows: dict[str, tuple[str, int]]  # symbol -> (cusip, shares available / pre-borrowed)


def parse_short_list(path: Path, list_type: str, business_date: dt.date | None = None,
                     raw: bytes | None = None) -> ShortListFile:
    """`#ETB|<clearer>|YYYYMMDD|ts` (or `#PREBORROW|...`), a column header, rows, `#EOF|<count>`."""
    lines = _lines(path, raw)
    tag = {"etb": "#ETB", "preborrow": "#PREBORROW"}[list_type]
    head = lines[0].split("|")
    if len(head) != 4 or head[0] != tag:
        raise FileRejectedError(path, f"first line must be {tag}|<clearer>|YYYYMMDD|<timestamp>", line=1,
                                field="record_type")
    as_of = _date(head[2], path, 1, "as_of_date")
    _check_as_of(as_of, business_date, path, 1, "as_of_date")
    columns = {"etb": ["SYMBOL", "CUSIP", "AVAILABLE"],
               "preborrow": ["SYMBOL", "CUSIP", "REQUIRED_SINCE", "PREBORROWED"]}[list_type]
    if len(lines) < 2 or lines[1].split("|") != columns:
        raise FileRejectedError(path, f"column header must be {'|'.join(columns)}", line=2, field="header")
    last = lines[-1].split("|")
    if last[0] != "#EOF" or len(last) != 2:
        raise FileRejectedError(path, "no #EOF trailer: file truncated", line=len(lines), field="record_type")
    rows: dict[str, tuple[str, int]] = {}
    for n, text in enumerate(lines[2:-1], start=3):
        cells = text.split("|")
        if len(cells) != len(columns):
            raise FileRejectedError(path, f"{len(cells)} values for {len(columns)} columns", line=n,
                                    field=columns[min(len(cells), len(columns) - 1)])
        sym, cusip = cells[0].strip(), cells[1].strip()
        if not sym:
            raise FileRejectedError(path, "empty symbol", line=n, field="SYMBOL")
        if not is_valid_cusip(cusip):
            raise FileRejectedError(path, f"bad CUSIP check digit {cusip!r}", line=n, field="CUSIP")
        if list_type == "preborrow":
            _date(cells[2], path, n, "REQUIRED_SINCE")
        qty = _int(cells[-1].strip(), path, n, columns[-1])
        if sym in rows:
            raise FileRejectedError(path, f"duplicate symbol {sym!r}", line=n, field="SYMBOL")
        rows[sym] = (cusip, qty)
    count = _int(last[1], path, len(lines), "count")
    if count != len(rows):
        raise FileRejectedError(path, f"trailer count {count} but {len(rows)} rows", line=len(lines), field="count")
    return ShortListFile(path, list_type, head[1], as_of, rows)


# --- exchanges' Reg SHO threshold lists -----------------------------------------------------------------

NASDAQ_COLUMNS = ["Symbol", "Security Name", "Market Category", "Reg SHO Threshold Flag", "Rule 3210", "Filler"]
NYSE_COLUMNS = ["Symbol", "Security Name", "Market Category", "Reg SHO Threshold Flag", "Filler", "Filler"]


@dataclass
class ThresholdFile:
    path: Path
    market: str  # NASDAQ | NYSE | NYSE American | NYSE Arca
    symbols: dict[str, str]  # symbol -> market category as published
    created: str | None  # Nasdaq's trailing timestamp line (None for NYSE group files, which have none)


def parse_threshold_list(path: Path, market: str, raw: bytes | None = None) -> ThresholdFile:
    """Nasdaq: header, rows, last line a `YYYYMMDDHHMMSS` timestamp (its absence = incomplete file).
    NYSE group: header and rows only."""
    lines = _lines(path, raw)
    nasdaq = market == "NASDAQ"
    columns = NASDAQ_COLUMNS if nasdaq else NYSE_COLUMNS
    if lines[0].split("|") != columns:
        raise FileRejectedError(path, f"header must be {'|'.join(columns)}", line=1, field="header")
    body = lines[1:]
    created = None
    if nasdaq:
        stamp = body[-1] if body else ""
        if not (len(stamp) == 14 and stamp.isdigit()):
            raise FileRejectedError(path, "no trailing creation timestamp line: file incomplete",
                                    line=len(lines), field="timestamp")
        created = stamp
        body = body[:-1]
    symbols: dict[str, str] = {}
    for n, text in enumerate(body, start=2):
        cells = text.split("|")
        if len(cells) != len(columns):
            raise FileRejectedError(path, f"{len(cells)} values for {len(columns)} columns", line=n,
                                    field=columns[min(len(cells), len(columns) - 1)])
        sym = cells[0].strip()
        if not sym or not sym.replace(".", "").replace("-", "").isalnum():
            raise FileRejectedError(path, f"bad symbol {sym!r}", line=n, field="Symbol")
        if cells[3] not in ("Y", "N"):
            raise FileRejectedError(path, f"threshold flag must be Y or N, got {cells[3]!r}", line=n,
                                    field="Reg SHO Threshold Flag")
        if cells[3] == "Y":
            symbols[sym] = cells[2]
    return ThresholdFile(path, market, symbols, created)
