"""The clearing twin's CNS fails-to-deliver file: the firm's open fails at NSCC's CNS, as its clearer
allocates them, each with the sale it comes from (the Rule 204 close-out deadline depends on it).

    outgoing/YYYYMMDD/cns_ftd_YYYYMMDD.txt

    #CNSFTD|<clearer>|<firm>|YYYYMMDD|YYYYMMDDHHMMSS
    FAIL_ID|SETTLEMENT_DATE|TRADE_DATE|SYMBOL|CUSIP|SALE_TYPE|QUANTITY
    ... one record per open fail ...
    #EOF|<record count>|<sum of QUANTITY>

The envelope is the one every delimited clearer file has (docs/clearing_formats.md; hw/clearing_twin/files.py
writes the others). The record layout is the house's: no clearer's real fails file is public (domain doc
§3.1, "File format not found"), so a real clearer is another adapter. SALE_TYPE: short | long |
market_making | rule144. Written independently of the loader (flows/clearing/ftd.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hw.clearing_twin.files import CLEARER_ID, REMOTE_ID

FILE_TYPE = "CNSFTD"
COLUMNS = ("FAIL_ID", "SETTLEMENT_DATE", "TRADE_DATE", "SYMBOL", "CUSIP", "SALE_TYPE", "QUANTITY")
SALE_TYPES = ("short", "long", "market_making", "rule144")


@dataclass(frozen=True)
class FailRow:
    fail_id: str
    settlement_date: dt.date
    trade_date: dt.date
    symbol: str
    cusip: str
    sale_type: str
    quantity: int


def ftd_file(as_of: dt.date, rows: Iterable[FailRow], run_ts: dt.datetime, clearer: str = CLEARER_ID) -> bytes:
    rows = sorted(rows, key=lambda r: r.fail_id)
    head = f"#{FILE_TYPE}|{clearer}|{REMOTE_ID}|{as_of:%Y%m%d}|{run_ts:%Y%m%d%H%M%S}"
    body = ["|".join(COLUMNS)] + [
        f"{r.fail_id}|{r.settlement_date:%Y%m%d}|{r.trade_date:%Y%m%d}|{r.symbol}|{r.cusip}|{r.sale_type}|{r.quantity}"
        for r in rows
    ]
    trailer = f"#EOF|{len(rows)}|{sum(r.quantity for r in rows)}"
    return ("\n".join([head, *body, trailer]) + "\n").encode("ascii")


def remote_name(day: dt.date) -> str:
    return f"outgoing/{day:%Y%m%d}/cns_ftd_{day:%Y%m%d}.txt"


def publish_ftd(root: Path, day: dt.date, rows: Iterable[FailRow]) -> Path:
    """Write the day's file (stamped 09:00 UTC like the SOD files, so a re-published day is byte-identical)."""
    from hw.clearing_twin.publisher import _stamp, _write

    ts = _stamp(day, 9)
    return _write(root / remote_name(day), ftd_file(day, rows, ts), ts)


def demo_fails(day: dt.date, last_settlement: dt.date, trade_of_last: dt.date) -> list[FailRow]:
    """The demo's fails for session `day`: a short-sale fail in INTC that settled on the last settlement day
    (its close-out is due at today's open: into the penalty box, where shorts draw on the 2,000 shares the
    clearer pre-borrowed) and a long-sale fail in MSFT of the same settlement date (three settlement days to
    go). The caller passes the dates: the twin knows no calendar."""
    from hw.refdata import SECURITIES_BY_SYMBOL

    def row(n: int, symbol: str, sale: str, qty: int) -> FailRow:
        return FailRow(f"F{day:%Y%m%d}{n:03d}", last_settlement, trade_of_last, symbol,
                       SECURITIES_BY_SYMBOL[symbol].cusip, sale, qty)

    return [row(1, "INTC", "short", 300), row(2, "MSFT", "long", 200)]
