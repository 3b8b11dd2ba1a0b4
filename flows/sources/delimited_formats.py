"""Delimited clearing and exchange files: balances (CSV), ETB and pre-borrow lists, threshold lists.

Small files (one row per account or per listed name), parsed strictly row by row after the shared
structural checks: the clearer's header and trailer records (flows/sources/envelope.py: file type,
clearer and firm ids, business date, creation time; record count and control total), required columns
present, numbers exact (Decimal / int), dates YYYYMMDD. Every fault raises FileRejectedError naming the
1-based line and the column. The exchanges' threshold lists keep their public layouts (Nasdaq's trailing
timestamp line; NYSE's files have no trailer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core_bridge.identifiers import is_valid_cusip
from flows.errors import FileRejectedError
from flows.sources.envelope import Envelope, check_totals, parse_envelope
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


# --- balances (Clear Street `bal` style) ----------------------------------------------------------------

BALANCE_COLUMNS = (
    "date", "account_id", "equity", "long_market_value", "short_market_value", "trade_cash_balance",
    "call_amount", "yesterday_call_amount", "multiplier", "exchange_requirement", "house_requirement",
    "dtbp", "yesterday_dtbp",
)
BALANCE_MONEY = BALANCE_COLUMNS[2:]
BALANCE_CONTROL = "dtbp"  # the trailer's control total: the sum of every row's day-trading buying power


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
    envelope: Envelope | None = None


def parse_balances(path: Path, business_date: dt.date | None = None, raw: bytes | None = None,
                   known_accounts: frozenset[str] | None = None) -> BalancesFile:
    """`#BALANCES|<clearer>|<firm>|YYYYMMDD|ts`, the column header, one row per account,
    `#EOF|<rows>|<sum of dtbp>`."""
    lines = _lines(path, raw)
    env = parse_envelope(lines, path, "BALANCES", business_date)
    if len(lines) < 3:
        raise FileRejectedError(path, "no column header row", line=2, field="header")
    header = [c.strip().lower() for c in lines[1].split(",")]  # names are case-insensitive, order free
    missing = [c for c in BALANCE_COLUMNS if c not in header]
    if missing:
        raise FileRejectedError(path, f"missing column(s) {', '.join(missing)}", line=2, field=missing[0])
    if len(set(header)) != len(header):
        raise FileRejectedError(path, "duplicate column name", line=2, field="header")
    if len(lines) < 4:
        raise FileRejectedError(path, "no balance rows", line=3, field="account_id")
    idx = {c: header.index(c) for c in BALANCE_COLUMNS}
    out = BalancesFile(path, env.as_of, envelope=env)
    seen: dict[str, int] = {}
    for n, text in enumerate(lines[2:-1], start=3):
        cells = text.split(",")
        if len(cells) != len(header):
            raise FileRejectedError(path, f"{len(cells)} values for {len(header)} columns", line=n,
                                    field=header[min(len(cells), len(header) - 1)])
        as_of = _date(cells[idx["date"]].strip(), path, n, "date")
        if as_of != env.as_of:
            raise FileRejectedError(path, f"date {as_of} differs from the header's business date {env.as_of}",
                                    line=n, field="date")
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
    check_totals(env, path, len(out.rows), sum((r.values[BALANCE_CONTROL] for r in out.rows), Decimal(0)),
                 BALANCE_CONTROL)
    return out


def require_accounts(bf: BalancesFile, required: Mapping[str, str]) -> None:
    """Every account the day's positions hold (`required`: clearing account -> core account) has a balance
    row: a missing one is an incomplete file, never a silent gap (its BP would be computed from nothing)."""
    have = {r.account_id for r in bf.rows}
    missing = sorted(set(required) - have)
    if missing:
        names = ", ".join(f"{a} ({required[a]})" if required[a] else a for a in missing)
        line = bf.envelope.trailer_line if bf.envelope is not None else None
        raise FileRejectedError(bf.path, f"{len(missing)} account(s) in the SOD positions missing from balances: "
                                f"{names}", line=line, field="account_id")


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
    """`#ETB|<clearer>|<firm>|YYYYMMDD|ts` (or `#PREBORROW|...`), a column header, rows,
    `#EOF|<rows>|<sum of the quantity column>`."""
    lines = _lines(path, raw)
    env = parse_envelope(lines, path, {"etb": "ETB", "preborrow": "PREBORROW"}[list_type], business_date)
    columns = {"etb": ["SYMBOL", "CUSIP", "AVAILABLE"],
               "preborrow": ["SYMBOL", "CUSIP", "REQUIRED_SINCE", "PREBORROWED"]}[list_type]
    if len(lines) < 3 or lines[1].split("|") != columns:
        raise FileRejectedError(path, f"column header must be {'|'.join(columns)}", line=2, field="header")
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
    check_totals(env, path, len(rows), sum(q for _, q in rows.values()), columns[-1])
    return ShortListFile(path, list_type, env.clearer, env.as_of, rows)


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
