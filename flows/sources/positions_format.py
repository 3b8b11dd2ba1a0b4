"""Fixed-width positions files (SOD and EOD): the CLEARTWIN layout, as one format adapter.

The layout is a table of fields (docs/clearing_formats.md prints the same table); a real clearer's layout
is another `FixedWidthLayout` + adapter. Parsing is numpy over the (n, record_length) byte matrix: a
1,000,000-record file parses in well under a second. Structural faults raise FileRejectedError naming
the line and field; content rules (check digits, accounts, duplicates, totals) are the GX suite's job.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flows.errors import FileRejectedError
from flows.sources.structural import check_record_length, check_text


@dataclass(frozen=True)
class Field:
    name: str
    start: int  # 1-based, as layout documents print it
    length: int
    kind: str = "text"  # text | digits | signed | literal
    literal: str = ""

    @property
    def sl(self) -> slice:
        return slice(self.start - 1, self.start - 1 + self.length)


@dataclass(frozen=True)
class FixedWidthLayout:
    name: str
    record_length: int
    header: tuple[Field, ...]
    detail: tuple[Field, ...]
    trailer: tuple[Field, ...]
    header_marker: str = "A"
    detail_marker: str = "D"
    trailer_marker: str = "Z"


CLEARTWIN_POSITIONS = FixedWidthLayout(
    name="cleartwin-positions-v1",
    record_length=120,
    header=(
        Field("record_type", 1, 3, "literal", "BOF"),
        Field("file_name", 5, 15),
        Field("as_of_date", 20, 8, "digits"),
        Field("remote_id", 28, 4),
        Field("run_timestamp", 32, 14, "digits"),
        Field("refresh_flag", 46, 9),
        Field("clearer_id", 56, 10),
        Field("end_marker", 120, 1, "literal", "A"),
    ),
    detail=(
        Field("transaction_code", 1, 2, "literal", "SP"),
        Field("sequence", 3, 8, "digits"),
        Field("account", 11, 8),
        Field("cusip", 19, 9),
        Field("isin", 28, 12),
        Field("symbol", 40, 10),
        Field("td_quantity", 50, 15, "signed"),
        Field("sd_quantity", 65, 15, "signed"),
        Field("price", 80, 14, "digits"),
        Field("currency", 94, 3),
        Field("end_marker", 120, 1, "literal", "D"),
    ),
    trailer=(
        Field("record_type", 1, 3, "literal", "EOF"),
        Field("count_label", 5, 21, "literal", "TOTAL DETAIL RECORDS:"),
        Field("detail_count", 26, 10, "digits"),
        Field("total_label", 37, 14, "literal", "CONTROL TOTAL:"),
        Field("control_total", 51, 18, "signed"),
        Field("refresh_flag", 70, 9),
        Field("end_marker", 120, 1, "literal", "Z"),
    ),
)


@dataclass
class PositionsFile:
    """A structurally sound positions file: header/trailer values and the detail columns.

    `raw` holds the columns as parsed: text fields as fixed-width `S` arrays (trailing blanks removed),
    numbers as int64, plus `line`. `columns` is the same with text as `str` arrays, built on first use (the
    loaders and the suites work on `raw` and its dictionary encodings; str arrays of 1M rows cost ~0.1 s each).
    """

    path: Path
    kind: str  # SOD | EOD
    as_of: dt.date
    detail_count: int  # what the trailer claims
    control_total: int  # what the trailer claims
    raw: dict[str, np.ndarray]
    remote_id: str = ""  # the firm's id at the clearer (header)
    clearer: str = ""  # the clearer's id (header)
    _str: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _enc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.raw["line"])

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """account/cusip/isin/symbol/currency: str arrays; line/quantities/price: int64."""
        if not self._str:
            self._str.update({k: v.astype(f"U{v.dtype.itemsize}") if v.dtype.kind == "S" else v
                              for k, v in self.raw.items()})
        return self._str

    def encoded(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(distinct values as an S array in first-seen order, int64 code per row) of a text column: the
        suites and the loader work on the few distinct accounts / ~250k distinct CUSIPs, not on 1M rows."""
        if name not in self._enc:
            self._enc[name] = dictionary_encode(self.raw[name])
        return self._enc[name]

    def frame(self):  # -> pandas.DataFrame (pandas imported lazily)
        import pandas as pd

        return pd.DataFrame(self.columns, copy=False)


def dictionary_encode(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact dictionary encoding of an `S` array: 8-byte words are factorised one after the other (hash
    based, ~20 ms per word per million rows), so any width works and no Python object is made per row."""
    import pandas as pd

    n, width = len(values), max(values.dtype.itemsize, 1)
    words = -(-width // 8)
    buf = np.zeros((n, words * 8), dtype=np.uint8)
    buf[:, :values.dtype.itemsize] = np.ascontiguousarray(values).view(np.uint8).reshape(n, values.dtype.itemsize)
    as_words = buf.view(np.uint64)
    codes = np.zeros(n, dtype=np.int64)
    for j in range(words):
        word_codes, word_uniques = pd.factorize(as_words[:, j], sort=False)
        # (codes so far, this word) -> one int64 (< n * n), refactorised: codes stay dense, first-seen order
        codes = pd.factorize(codes * len(word_uniques) + word_codes, sort=False)[0].astype(np.int64)
    first = np.full(int(codes.max()) + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    return values[first], codes


def _digits(block: np.ndarray, path: Path, field: Field, first_line: int) -> np.ndarray:
    """(n, k) ASCII digit bytes -> int64; any non-digit names its line."""
    d = block - np.uint8(48)  # wraps: anything below '0' becomes > 9 too
    bad = np.flatnonzero((d > 9).any(axis=1))
    if len(bad):
        i = int(bad[0])
        raise FileRejectedError(path, f"not a number: {bytes(block[i]).decode('ascii')!r}",
                                line=first_line + i, field=field.name)
    out = d[:, 0].astype(np.int64)
    for j in range(1, block.shape[1]):  # Horner, one column at a time: no (n, k) int64 temporary
        out *= 10
        out += d[:, j]
    return out


def _signed(block: np.ndarray, path: Path, field: Field, first_line: int) -> np.ndarray:
    sign = block[:, 0]
    bad = np.flatnonzero((sign != ord("+")) & (sign != ord("-")))
    if len(bad):
        i = int(bad[0])
        raise FileRejectedError(path, f"sign must be + or -: {bytes(block[i]).decode('ascii')!r}",
                                line=first_line + i, field=field.name)
    mag = _digits(block[:, 1:], path, field, first_line)
    np.negative(mag, out=mag, where=sign == ord("-"))
    return mag


def _text(block: np.ndarray) -> np.ndarray:
    """(n, k) bytes -> S<k> array with trailing blanks removed (NUL padded)."""
    s = np.ascontiguousarray(block).view(f"S{block.shape[1]}").ravel()
    return np.strings.rstrip(s, b" ")


def _check_literals(rec: np.ndarray, fields: tuple[Field, ...], path: Path, first_line: int) -> None:
    for f in fields:
        if f.kind != "literal":
            continue
        want = np.frombuffer(f.literal.encode("ascii"), dtype=np.uint8)
        got = rec[:, f.sl] if rec.ndim == 2 else rec[None, f.sl]
        bad = np.flatnonzero((got != want).any(axis=1))
        if len(bad):
            i = int(bad[0])
            raise FileRejectedError(path, f"expected {f.literal!r}, found {bytes(got[i]).decode('ascii')!r}",
                                    line=first_line + i, field=f.name)


def parse_positions(path: Path, layout: FixedWidthLayout = CLEARTWIN_POSITIONS, raw: bytes | None = None
                    ) -> PositionsFile:
    """Structural checks + parse. Raises FileRejectedError (line, field) on the first structural fault."""
    raw = path.read_bytes() if raw is None else raw
    lines = check_text(raw, path)
    n = len(lines)
    if n < 2:
        raise FileRejectedError(path, "no EOF trailer: file truncated", line=n + 1, field="record_type")
    # Header and trailer first: a cut file is reported as truncated, not as a bad length on its last line.
    first = lines.text(0)
    if not first.startswith("BOF"):
        raise FileRejectedError(path, f"first record is not a BOF header: {first[:20]!r}", line=1,
                                field="record_type")
    last = lines.text(n - 1)
    if not last.startswith("EOF"):
        raise FileRejectedError(path, f"last record is not an EOF trailer: {last[:20]!r} (file truncated?)",
                                line=n, field="record_type")
    recs = check_record_length(lines, layout.record_length, path)
    header, trailer, detail = recs[0], recs[-1], recs[1:-1]
    _check_literals(header, layout.header, path, 1)
    _check_literals(trailer, layout.trailer, path, n)
    body_types = detail[:, 0:3]
    for marker in (b"BOF", b"EOF"):
        stray = np.flatnonzero((body_types == np.frombuffer(marker, np.uint8)).all(axis=1))
        if len(stray):
            raise FileRejectedError(path, f"{marker.decode()} record inside the detail records",
                                    line=2 + int(stray[0]), field="record_type")
    _check_literals(detail, layout.detail, path, 2)

    hf = {f.name: f for f in layout.header}
    tf = {f.name: f for f in layout.trailer}
    df = {f.name: f for f in layout.detail}
    as_of_txt = bytes(header[hf["as_of_date"].sl]).decode("ascii")
    try:
        as_of = dt.datetime.strptime(as_of_txt, "%Y%m%d").date()  # noqa: DTZ007 - a date, no time
    except ValueError:
        raise FileRejectedError(path, f"bad as-of date {as_of_txt!r}", line=1, field="as_of_date") from None
    kind = bytes(header[hf["file_name"].sl]).decode("ascii").split(" ")[0]
    remote_id = bytes(header[hf["remote_id"].sl]).decode("ascii").strip()
    clearer = bytes(header[hf["clearer_id"].sl]).decode("ascii").strip()
    count = int(_digits(trailer[None, tf["detail_count"].sl], path, tf["detail_count"], n)[0])
    total = int(_signed(trailer[None, tf["control_total"].sl], path, tf["control_total"], n)[0])

    cols: dict[str, np.ndarray] = {"line": np.arange(2, 2 + len(detail), dtype=np.int64)}
    for f in layout.detail:
        if f.kind == "literal":
            continue
        block = detail[:, f.sl]
        if f.kind == "digits":
            cols[f.name] = _digits(block, path, f, 2)
        elif f.kind == "signed":
            cols[f.name] = _signed(block, path, f, 2)
        else:
            cols[f.name] = _text(block)
    seq = cols["sequence"]
    off = np.flatnonzero(seq != np.arange(1, len(seq) + 1))
    if len(off):
        i = int(off[0])
        raise FileRejectedError(path, f"sequence {int(seq[i])}, expected {i + 1}", line=2 + i, field="sequence")
    del df
    return PositionsFile(path, kind, as_of, count, total, cols, remote_id=remote_id, clearer=clearer)


def check_header(pf: PositionsFile, kind: str, business_date: dt.date | None = None) -> None:
    """The header names the file expected: `kind` (SOD / EOD), from our clearer, for our firm, and (when
    given) for `business_date`. Raises FileRejectedError on line 1 naming the header field."""
    from flows.sources.envelope import EXPECTED_CLEARER, EXPECTED_FIRM

    if pf.kind != kind:
        raise FileRejectedError(pf.path, f"header says {pf.kind} POSITIONS, expected {kind} POSITIONS", line=1,
                                field="file_name")
    if pf.clearer != EXPECTED_CLEARER:
        raise FileRejectedError(pf.path, f"file from clearer {pf.clearer!r}, expected {EXPECTED_CLEARER!r}",
                                line=1, field="clearer_id")
    if pf.remote_id != EXPECTED_FIRM:
        raise FileRejectedError(pf.path, f"file for firm {pf.remote_id!r}, expected {EXPECTED_FIRM!r}", line=1,
                                field="remote_id")
    if business_date is not None and pf.as_of != business_date:
        raise FileRejectedError(pf.path, f"header business date {pf.as_of} is not the business date "
                                f"{business_date}", line=1, field="as_of_date")
