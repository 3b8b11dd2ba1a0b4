"""The clearing twin's file writers: bytes exactly as docs/clearing_formats.md specifies them.

Written independently of the loaders' format adapters (flows/sources/formats/), so the documented layout
is implemented twice and each side checks the other. Pure functions: data in, bytes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from core_bridge.identifiers import isin_from_cusip
from core_bridge.protocol import from_fixed

RECORD_LENGTH = 120  # bytes per fixed-width record, end marker included, LF not included
REMOTE_ID = "CT01"  # the firm's (correspondent's) id at the clearer: in every file's header
CLEARER_ID = "CLEARTWIN"  # the clearer's id: in every file's header


@dataclass(frozen=True)
class PositionRow:
    clearing_account: str
    cusip: str
    symbol: str
    td_qty: int
    sd_qty: int
    price: int  # PRICE_SCALE fixed point (mark)


@dataclass(frozen=True)
class BalanceRow:
    clearing_account: str
    equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    trade_cash_balance: Decimal
    call_amount: Decimal
    yesterday_call_amount: Decimal
    multiplier: Decimal
    exchange_requirement: Decimal
    house_requirement: Decimal
    dtbp: Decimal
    yesterday_dtbp: Decimal


@dataclass(frozen=True)
class TradeRow:
    timestamp_ms: int
    client_trade_id: str
    trade_date: dt.date
    clearing_account: str
    quantity: int
    price: int  # PRICE_SCALE fixed point
    symbol: str
    cusip: str
    direction: str  # buy | sell
    qualifier: str  # "" | short | short_exempt
    mic: str
    order_id: int
    exec_id: int
    locate_id: str
    locate_source: str
    settlement_date: dt.date


@dataclass(frozen=True)
class ThresholdRow:
    symbol: str
    name: str
    market_category: str


def _ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _signed(value: int, width: int) -> str:
    return ("-" if value < 0 else "+") + str(abs(value)).rjust(width - 1, "0")


def _record(body: str, marker: str) -> str:
    if len(body) > RECORD_LENGTH - 1:
        raise ValueError(f"record body {len(body)} > {RECORD_LENGTH - 1}: {body!r}")
    return body.ljust(RECORD_LENGTH - 1) + marker + "\n"


def _delimited(file_type: str, as_of: dt.date, run_ts: dt.datetime, body: list[str], count: int,
               control_total: object, clearer: str = CLEARER_ID) -> bytes:
    """A delimited clearer file: `#TYPE|clearer|firm|YYYYMMDD|YYYYMMDDHHMMSS`, the column header and records
    (`body`), `#EOF|<record count>|<control total>`."""
    head = f"#{file_type}|{clearer}|{REMOTE_ID}|{_ymd(as_of)}|{run_ts.strftime('%Y%m%d%H%M%S')}"
    return ("\n".join([head, *body, f"#EOF|{count}|{control_total}"]) + "\n").encode("ascii")


def positions_file(kind: str, as_of: dt.date, rows: Iterable[PositionRow], run_ts: dt.datetime) -> bytes:
    """Fixed-width positions file (`kind` SOD or EOD): BOF header, detail records, EOF trailer."""
    name = f"{kind} POSITIONS".ljust(15)
    out = [_record(f"BOF {name}{_ymd(as_of)}{REMOTE_ID}{run_ts.strftime('%Y%m%d%H%M%S')}REFRESHED {CLEARER_ID:<10}",
                   "A")]
    count = 0
    total = 0
    for i, r in enumerate(rows, start=1):
        body = (
            f"SP{i:08d}{r.clearing_account:<8}{r.cusip:<9}{isin_from_cusip(r.cusip)}{r.symbol:<10}"
            f"{_signed(r.td_qty, 15)}{_signed(r.sd_qty, 15)}{r.price:014d}USD"
        )
        out.append(_record(body, "D"))
        count += 1
        total += r.td_qty
    out.append(_record(f"EOF TOTAL DETAIL RECORDS:{count:010d} CONTROL TOTAL:{_signed(total, 18)} REFRESHED", "Z"))
    return "".join(out).encode("ascii")


BALANCE_COLUMNS = (
    "date", "account_id", "equity", "long_market_value", "short_market_value", "trade_cash_balance",
    "call_amount", "yesterday_call_amount", "multiplier", "exchange_requirement", "house_requirement",
    "dtbp", "yesterday_dtbp",
)


def balances_file(as_of: dt.date, rows: Iterable[BalanceRow], run_ts: dt.datetime) -> bytes:
    """Balances CSV between header and trailer records; the control total is the sum of `dtbp`."""
    lines = [",".join(BALANCE_COLUMNS)]
    total = Decimal(0)
    n = 0
    for r in rows:
        vals = [
            _ymd(as_of), r.clearing_account, r.equity, r.long_market_value, r.short_market_value,
            r.trade_cash_balance, r.call_amount, r.yesterday_call_amount, r.multiplier,
            r.exchange_requirement, r.house_requirement, r.dtbp, r.yesterday_dtbp,
        ]
        lines.append(",".join(str(v) for v in vals))
        total += r.dtbp
        n += 1
    return _delimited("BALANCES", as_of, run_ts, lines, n, total)


def etb_file(as_of: dt.date, clearer: str, rows: Mapping[str, tuple[str, int]], run_ts: dt.datetime) -> bytes:
    """Easy-to-borrow list: `rows` is symbol -> (cusip, shares available); control total = shares available."""
    body = ["SYMBOL|CUSIP|AVAILABLE"] + [f"{sym}|{cusip}|{qty}" for sym, (cusip, qty) in sorted(rows.items())]
    return _delimited("ETB", as_of, run_ts, body, len(rows), sum(q for _, q in rows.values()), clearer)


def preborrow_file(
    as_of: dt.date, clearer: str, rows: Mapping[str, tuple[str, dt.date, int]], run_ts: dt.datetime
) -> bytes:
    """Rule 204(b) pre-borrow list: symbol -> (cusip, required since, shares pre-borrowed for the firm);
    control total = shares pre-borrowed."""
    body = ["SYMBOL|CUSIP|REQUIRED_SINCE|PREBORROWED"]
    body += [f"{s}|{c}|{_ymd(since)}|{q}" for s, (c, since, q) in sorted(rows.items())]
    return _delimited("PREBORROW", as_of, run_ts, body, len(rows), sum(q for _, _, q in rows.values()), clearer)


TRADE_COLUMNS = (
    "type", "timestamp", "client_trade_id", "date", "account_id", "quantity", "price",
    "instrument.identifier", "instrument.identifier_type", "instrument.cusip", "instrument.country",
    "instrument.currency", "side.direction", "side.qualifier", "capacity", "mic", "order_id", "exec_id",
    "locate.id", "locate.source", "settlement.date",
)


def trades_file(trade_date: dt.date, rows: Iterable[TradeRow], run_ts: dt.datetime) -> bytes:
    """Trade file in the Clear Street trade-file style (CSV, header row) — the clearer's view of `trade_date`
    (rows may carry earlier trade dates: late bookings) — between header and trailer records; control
    total = the sum of `quantity`."""
    lines = [",".join(TRADE_COLUMNS)]
    n = total = 0
    for r in rows:
        n += 1
        total += r.quantity
        lines.append(
            ",".join(
                [
                    "exchange_trade", str(r.timestamp_ms), r.client_trade_id, _ymd(r.trade_date),
                    r.clearing_account, str(r.quantity), from_fixed(r.price), r.symbol, "ticker", r.cusip, "USA",
                    "USD", r.direction,
                    r.qualifier, "principal", r.mic, str(r.order_id), str(r.exec_id), r.locate_id,
                    r.locate_source, _ymd(r.settlement_date),
                ]
            )
        )
    return _delimited("TRADES", trade_date, run_ts, lines, n, total)


def nasdaq_threshold_file(rows: Iterable[ThresholdRow], created: dt.datetime) -> bytes:
    """nasdaqthYYYYMMDD.txt: pipe-delimited, last line the creation timestamp (its presence = complete)."""
    lines = ["Symbol|Security Name|Market Category|Reg SHO Threshold Flag|Rule 3210|Filler"]
    lines += [f"{r.symbol}|{r.name}|{r.market_category}|Y|N|" for r in rows]
    lines.append(created.strftime("%Y%m%d%H%M%S"))
    return ("\n".join(lines) + "\n").encode("ascii")


def nyse_threshold_file(rows: Iterable[ThresholdRow]) -> bytes:
    """NYSE / NYSE American / NYSE Arca download: pipe-delimited, Market Category = exchange name."""
    lines = ["Symbol|Security Name|Market Category|Reg SHO Threshold Flag|Filler|Filler"]
    lines += [f"{r.symbol}|{r.name}|{r.market_category}|Y||" for r in rows]
    return ("\n".join(lines) + "\n").encode("ascii")
