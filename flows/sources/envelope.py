"""The header and trailer records every delimited clearer file carries (balances, trades, ETB, pre-borrow).

    #<TYPE>|<clearer id>|<firm id>|<YYYYMMDD business date>|<YYYYMMDDHHMMSS creation time, UTC>
    ... column header, records ...
    #EOF|<record count>|<control total>

Without them a file that lost its last lines (a cut transfer, a partial extract) reads like a short file.
With them the loader rejects, whole and naming the line and field: no header record, a header for another
file type, clearer or firm, a missing or wrong business date, no trailer (truncated), a record count or a
control total that does not match the records. The control total per file type is the sum of one column
(`CONTROL_COLUMN` in each reader: balances `dtbp`, trades `quantity`, ETB `AVAILABLE`, pre-borrow
`PREBORROWED`), compared exactly (Decimal). docs/clearing_formats.md prints the layouts.

The twin writes these records in hw/clearing_twin/files.py, independently of this reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from flows.errors import FileRejectedError

# Who the files must come from and be for: the clearer's id and the firm's (correspondent) id at the clearer.
# One clearer today (the twin's CLEARTWIN layouts); a real clearer is another adapter with its own ids.
EXPECTED_CLEARER = "CLEARTWIN"
EXPECTED_FIRM = "CT01"

HEADER_FIELDS = ("record_type", "clearer_id", "firm_id", "as_of_date", "created")
TRAILER_FIELDS = ("record_type", "record_count", "control_total")


@dataclass(frozen=True)
class Envelope:
    file_type: str  # BALANCES | TRADES | ETB | PREBORROW
    clearer: str
    firm: str
    as_of: dt.date
    created: dt.datetime
    record_count: int  # what the trailer claims
    control_total: Decimal  # what the trailer claims
    trailer_line: int  # 1-based line of the trailer record


def parse_date(text: str, path: Path, line: int, field: str) -> dt.date:
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return dt.datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 - a date, no time
    except ValueError:
        what = "no business date" if not text else f"not a YYYYMMDD date: {text!r}"
        raise FileRejectedError(path, what, line=line, field=field) from None


def _timestamp(text: str, path: Path, line: int) -> dt.datetime:
    try:
        if len(text) != 14 or not text.isdigit():
            raise ValueError
        return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise FileRejectedError(path, f"creation time must be YYYYMMDDHHMMSS, got {text!r}", line=line,
                                field="created") from None


def parse_envelope(lines: list[str], path: Path, file_type: str, business_date: dt.date | None = None, *,
                   clearer: str = EXPECTED_CLEARER, firm: str = EXPECTED_FIRM) -> Envelope:
    """Check and read line 1 (header record) and the last line (trailer record) of a delimited clearer file.

    The records in between are the caller's; it compares their number and control column with
    `record_count` / `control_total` (`check_totals`)."""
    tag = f"#{file_type}"
    head = lines[0].split("|")
    if head[0] != tag:
        raise FileRejectedError(path, f"first line must be the {tag} header record, found {lines[0][:40]!r}",
                                line=1, field="record_type")
    if len(head) != len(HEADER_FIELDS):
        raise FileRejectedError(path, f"header record has {len(head)} fields, expected {len(HEADER_FIELDS)}: "
                                f"{tag}|<clearer>|<firm>|YYYYMMDD|YYYYMMDDHHMMSS", line=1,
                                field=HEADER_FIELDS[min(len(head), len(HEADER_FIELDS) - 1)])
    if head[1] != clearer:
        raise FileRejectedError(path, f"file from clearer {head[1]!r}, expected {clearer!r}", line=1,
                                field="clearer_id")
    if head[2] != firm:
        raise FileRejectedError(path, f"file for firm {head[2]!r}, expected {firm!r}", line=1, field="firm_id")
    as_of = parse_date(head[3], path, 1, "as_of_date")
    if business_date is not None and as_of != business_date:
        raise FileRejectedError(path, f"header business date {as_of} is not the business date {business_date}",
                                line=1, field="as_of_date")
    created = _timestamp(head[4], path, 1)
    n = len(lines)
    last = lines[-1].split("|")
    if n < 2 or last[0] != "#EOF":
        raise FileRejectedError(path, f"last line is not the #EOF trailer record: file truncated "
                                f"(last line {lines[-1][:40]!r})", line=n, field="record_type")
    if len(last) != len(TRAILER_FIELDS):
        raise FileRejectedError(path, f"trailer record has {len(last)} fields, expected #EOF|<record count>|"
                                "<control total>", line=n, field=TRAILER_FIELDS[min(len(last), 2)])
    if not last[1].isdigit():
        raise FileRejectedError(path, f"record count is not a number: {last[1]!r}", line=n, field="record_count")
    try:
        total = Decimal(last[2])
        if not total.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        raise FileRejectedError(path, f"control total is not a number: {last[2]!r}", line=n,
                                field="control_total") from None
    for i, text in enumerate(lines[1:-1], start=2):
        if text.startswith("#"):
            raise FileRejectedError(path, f"header or trailer record inside the records: {text[:40]!r}", line=i,
                                    field="record_type")
    return Envelope(file_type, head[1], head[2], as_of, created, int(last[1]), total, n)


def check_totals(env: Envelope, path: Path, records: int, total: Decimal | int, column: str) -> None:
    """The trailer's record count and control total against what the records hold."""
    if env.record_count != records:
        raise FileRejectedError(path, f"trailer record count {env.record_count} but the file has {records} "
                                "records (lines lost or added)", line=env.trailer_line, field="record_count")
    if env.control_total != Decimal(total):
        raise FileRejectedError(path, f"trailer control total {env.control_total} but the records' {column} sum "
                                f"to {total}", line=env.trailer_line, field="control_total")
