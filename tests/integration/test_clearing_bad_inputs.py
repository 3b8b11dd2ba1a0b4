"""The malformed-file corpus: every file is rejected whole, names its line and field, is quarantined, and the
store's data tables are unchanged (only a `rejected` row in ingested_files is added).

The corpus is generated in code from a good twin day (tests/data/bad_inputs/README.md says why), so each
case is one visible edit of a valid file. Most faults are structural; the content rules (check digits,
accounts, duplicates, totals, as-of date) go through the real Great Expectations suite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from flows.clearing.ingest import ingest
from flows.clearing.loaders import load_short_list, load_threshold_list
from flows.clearing.sod import check_balances, check_positions, known_clearing_accounts
from flows.errors import FileRejectedError
from flows.sources.delimited_formats import parse_short_list, parse_threshold_list
from flows.sources.sftp import LocalDirSource
from flows.store.db import make_engine, upgrade
from flows.store.models import IngestedFile
from hw.clearing_twin import publisher
from hw.clearing_twin.book import initial_book

DAY = dt.date(2026, 11, 12)
DATA_TABLES = ("sod_positions", "sod_balances", "locates", "sho_list_entries", "locate_log", "bp_snapshots")


def _good_files(root: Path) -> dict[str, bytes]:
    publisher.publish_sod(root, DAY, initial_book())
    publisher.publish_threshold_lists(root, DAY)
    d = publisher.day_dir(root, DAY)
    return {
        "positions": (d / "sod_positions_20261112.txt").read_bytes(),
        "balances": (d / "balances_20261112.csv").read_bytes(),
        "etb": (d / "etb_20261112.txt").read_bytes(),
        "preborrow": (d / "preborrow_20261112.txt").read_bytes(),
        "nasdaq": (root / "regsho" / "nasdaqth20261112.txt").read_bytes(),
        "nyse": (root / "regsho" / "NYSEth20261112.txt").read_bytes(),
    }


def _lines(b: bytes) -> list[bytes]:
    return b.split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def _edit_line(i: int, fn: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def go(b: bytes) -> bytes:
        ls = _lines(b)
        ls[i] = fn(ls[i])
        return _join(ls)
    return go


def _put(rec: bytes, start: int, value: bytes) -> bytes:
    """Overwrite 1-based position `start` of a record with `value`."""
    return rec[:start - 1] + value + rec[start - 1 + len(value):]


def _dup_line(i: int) -> Callable[[bytes], bytes]:
    """Duplicate detail line i (renumbering sequences and fixing the trailer so only the duplicate is wrong)."""
    def go(b: bytes) -> bytes:
        ls = _lines(b)
        body = ls[1:-1]
        body.insert(i, body[i - 1])
        body = [_put(r, 3, f"{n:08d}".encode()) for n, r in enumerate(body, start=1)]
        total = sum(int(r[49:64]) for r in body)
        trailer = _put(ls[-1], 26, f"{len(body):010d}".encode())
        trailer = _put(trailer, 51, (("-" if total < 0 else "+") + str(abs(total)).rjust(17, "0")).encode())
        return _join([ls[0], *body, trailer])
    return go


def _bump_cusip_digit(row: bytes) -> bytes:
    sym, cusip, rest = row.split(b"|", 2)
    return b"|".join([sym, cusip[:8] + str((int(cusip[8:]) + 1) % 10).encode(), rest])


def _trailer(rec: bytes, count: bytes | None = None, total: bytes | None = None) -> bytes:
    """A delimited file's `#EOF|<count>|<total>` trailer with one of its numbers replaced."""
    tag, n, t = rec.split(b"|")
    return b"|".join([tag, n if count is None else count, t if total is None else total])


def _cell(row: bytes, i: int, value: bytes) -> bytes:
    cells = row.split(b",")
    cells[i] = value
    return b",".join(cells)


# (case id, file kind, mutation, expected line (None = any), expected field)
CASES: list[tuple[str, str, Callable[[bytes], bytes], int | None, str]] = [
    ("empty-file", "positions", lambda b: b"", 1, "file"),
    ("truncated-mid-record", "positions", lambda b: b[: len(b) // 2 + 7], None, "line_ending"),
    ("truncated-no-trailer", "positions", lambda b: _join(_lines(b)[:-1]), None, "record_type"),
    ("wrong-record-length", "positions", _edit_line(3, lambda r: r[:60] + r[61:]), 4, "record_length"),
    ("bad-trailer-count", "positions", _edit_line(-1, lambda r: _put(r, 26, b"0000000999")), None, "detail_count"),
    ("bad-control-total", "positions", _edit_line(-1, lambda r: _put(r, 51, b"+00000000000000001")), None,
     "control_total"),
    ("bad-cusip-check-digit", "positions", lambda b: b.replace(b"037833100US", b"037833109US"), None, "cusip"),
    ("unknown-account", "positions", _edit_line(2, lambda r: _put(r, 11, b"9ZZ99999")), 3, "account"),
    ("duplicate-account-cusip", "positions", _dup_line(2), 3, "account,cusip"),
    ("wrong-as-of-date", "positions", _edit_line(0, lambda r: _put(r, 20, b"20261111")), 1, "as_of_date"),
    ("isin-not-of-cusip", "positions", lambda b: b.replace(b"US0378331005", b"US5949181045"), None, "isin"),
    ("non-ascii-byte", "positions", _edit_line(4, lambda r: _put(r, 42, "É".encode("latin-1"))), 5, "encoding"),
    ("crlf-mix", "positions", _edit_line(2, lambda r: r + b"\r"), 3, "line_ending"),
    ("nul-byte", "positions", _edit_line(2, lambda r: _put(r, 100, b"\x00")), 3, "encoding"),
    ("non-numeric-quantity", "positions", _edit_line(2, lambda r: _put(r, 55, b"12A4")), 3, "td_quantity"),
    ("bad-quantity-sign", "positions", _edit_line(2, lambda r: _put(r, 65, b"*")), 3, "sd_quantity"),
    ("missing-bof-header", "positions", lambda b: _join(_lines(b)[1:]), 1, "record_type"),
    ("sequence-gap", "positions", _edit_line(3, lambda r: _put(r, 3, b"00000042")), 4, "sequence"),
    ("stray-eof-inside", "positions", lambda b: _join([*_lines(b)[:3], _lines(b)[-1], *_lines(b)[3:]]), 4,
     "record_type"),
    ("bad-end-marker", "positions", _edit_line(2, lambda r: r[:-1] + b"X"), 3, "end_marker"),
    ("nasdaq-threshold-no-timestamp", "nasdaq", lambda b: _join(_lines(b)[:-1]), None, "timestamp"),
    ("nasdaq-threshold-bad-flag", "nasdaq", _edit_line(1, lambda r: r.replace(b"|Y|", b"|X|")), 2,
     "Reg SHO Threshold Flag"),
    ("nyse-threshold-bad-header", "nyse", _edit_line(0, lambda r: r.replace(b"Symbol", b"Ticker")), 1, "header"),
    ("positions-eod-as-sod", "positions", _edit_line(0, lambda r: _put(r, 5, b"EOD")), 1, "file_name"),
    ("positions-other-clearer", "positions", _edit_line(0, lambda r: _put(r, 56, b"OTHERCLR  ")), 1, "clearer_id"),
    ("positions-other-firm", "positions", _edit_line(0, lambda r: _put(r, 28, b"ZZ99")), 1, "remote_id"),
    ("positions-header-no-date", "positions", _edit_line(0, lambda r: _put(r, 20, b"        ")), 1, "as_of_date"),
    # Balances: header record (line 1), column names (line 2), one row per account (3..6), trailer (7).
    ("balances-missing-column", "balances", _edit_line(1, lambda r: r.replace(b",dtbp,", b",dtbpx,")), 2, "dtbp"),
    ("balances-non-numeric", "balances", _edit_line(3, lambda r: r.replace(b",4.00,", b",four,")), 4, "multiplier"),
    ("balances-too-few-values", "balances", _edit_line(2, lambda r: r.rsplit(b",", 2)[0]), 3, "dtbp"),
    ("balances-wrong-date", "balances", _edit_line(2, lambda r: r.replace(b"20261112", b"20261110", 1)), 3,
     "date"),
    ("balances-unknown-account", "balances", _edit_line(2, lambda r: r.replace(b"3PX00101", b"3PX00999")), 3,
     "account_id"),
    ("balances-duplicate-account", "balances", lambda b: _join([*_lines(b)[:-1], _lines(b)[2], _lines(b)[-1]]), 7,
     "account_id"),
    ("balances-truncated-last-line", "balances", lambda b: _join(_lines(b)[:-1]), 6, "record_type"),
    ("balances-truncated-two-lines", "balances", lambda b: _join(_lines(b)[:-2]), 5, "record_type"),
    ("balances-truncated-mid-line", "balances", lambda b: b[:-9], 7, "line_ending"),
    ("balances-no-header-record", "balances", lambda b: _join(_lines(b)[1:]), 1, "record_type"),
    ("balances-header-date-mismatch", "balances", _edit_line(0, lambda r: r.replace(b"|20261112|", b"|20261111|")),
     1, "as_of_date"),
    ("balances-header-date-missing", "balances", _edit_line(0, lambda r: r.replace(b"|20261112|", b"||")), 1,
     "as_of_date"),
    ("balances-header-other-firm", "balances", _edit_line(0, lambda r: r.replace(b"|CT01|", b"|CT99|")), 1,
     "firm_id"),
    ("balances-header-bad-created", "balances", _edit_line(0, lambda r: r[:-6] + b"99XX99"), 1, "created"),
    ("balances-bad-record-count", "balances", _edit_line(-1, lambda r: _trailer(r, count=b"5")), 7,
     "record_count"),
    ("balances-bad-control-total", "balances", _edit_line(-1, lambda r: _trailer(r, total=b"1.00")), 7,
     "control_total"),
    ("balances-row-dropped", "balances", lambda b: _join([*_lines(b)[:3], *_lines(b)[4:]]), 6, "record_count"),
    ("balances-dtbp-altered", "balances", _edit_line(3, lambda r: _cell(r, -2, b"19763901.00")), 7, "control_total"),
    ("etb-bad-cusip", "etb", _edit_line(2, lambda r: _bump_cusip_digit(r)), 3, "CUSIP"),
    ("etb-trailer-count", "etb", _edit_line(-1, lambda r: _trailer(r, count=b"99")), None, "record_count"),
    ("etb-control-total", "etb", _edit_line(-1, lambda r: _trailer(r, total=b"17000001")), None, "control_total"),
    ("etb-no-trailer", "etb", lambda b: _join(_lines(b)[:-1]), None, "record_type"),
    ("etb-old-trailer", "etb", _edit_line(-1, lambda r: r.rsplit(b"|", 1)[0]), None, "control_total"),
    ("etb-wrong-as-of", "etb", _edit_line(0, lambda r: r.replace(b"20261112", b"20261113")), 1, "as_of_date"),
    ("etb-old-header", "etb", _edit_line(0, lambda r: r.replace(b"|CT01|", b"|")), 1, "created"),
    ("preborrow-fractional-qty", "preborrow", _edit_line(2, lambda r: r.rsplit(b"|", 1)[0] + b"|10.5"), 3,
     "PREBORROWED"),
    ("preborrow-header-date-missing", "preborrow", _edit_line(0, lambda r: r.replace(b"|20261112|", b"||")), 1,
     "as_of_date"),
    ("preborrow-control-total", "preborrow", _edit_line(-1, lambda r: _trailer(r, total=b"0")), None,
     "control_total"),
]


def _check_for(kind: str, engine: Engine) -> tuple[str, Callable[[Path], tuple[object, object]], Callable]:
    known = known_clearing_accounts(engine)
    return {
        "positions": ("clearing.positions", lambda p: check_positions(p, DAY, known), None),
        "balances": ("clearing.balances", lambda p: check_balances(p, DAY, known), None),
        "etb": ("clearing.etb", lambda p: (parse_short_list(p, "etb", DAY), None), load_short_list),
        "preborrow": ("clearing.preborrow", lambda p: (parse_short_list(p, "preborrow", DAY), None), load_short_list),
        "nasdaq": ("regsho.NASDAQ", lambda p: (parse_threshold_list(p, "NASDAQ"), None), load_threshold_list),
        "nyse": ("regsho.NYSE", lambda p: (parse_threshold_list(p, "NYSE"), None), load_threshold_list),
    }[kind]


def _snapshot(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as c:
        return {t: sorted(tuple(r) for r in c.execute(text(f"SELECT * FROM {t}"))) for t in DATA_TABLES}  # noqa: S608


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _good_files(tmp_path_factory.mktemp("good"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'ops.sqlite'}"
    upgrade(url)
    return make_engine(url)


def test_corpus_when_counted_then_at_least_25_distinct_malformed_files(good: dict[str, bytes]) -> None:
    variants = {case[2](good[case[1]]) for case in CASES}
    assert len(CASES) >= 25
    assert len(variants) == len(CASES)
    assert all(v != good[c[1]] for v, c in zip([c[2](good[c[1]]) for c in CASES], CASES, strict=True))


@pytest.mark.parametrize(("case", "kind", "mutate", "line", "field"), CASES, ids=[c[0] for c in CASES])
def test_ingest_when_file_malformed_then_rejected_whole_quarantined_and_store_unchanged(
    case: str, kind: str, mutate: Callable[[bytes], bytes], line: int | None, field: str,
    good: dict[str, bytes], engine: Engine, tmp_path: Path,
) -> None:
    from flows.clearing.loaders import load_balances, load_positions

    src_root = tmp_path / "clearer"
    name = f"{case}.txt"
    (src_root / "in").mkdir(parents=True)
    (src_root / "in" / name).write_bytes(mutate(good[kind]))
    home = tmp_path / "home"
    source_kind, check, load = _check_for(kind, engine)
    load = load or {"positions": load_positions, "balances": load_balances}[kind]
    before = _snapshot(engine)

    with pytest.raises(FileRejectedError) as info:
        ingest(engine, LocalDirSource(src_root), f"in/{name}", kind=source_kind, business_date=DAY, home=home,
               check=check, load=load)

    err = info.value
    assert err.field == field, str(err)
    if line is not None:
        assert err.line == line, str(err)
    else:
        assert err.line is not None and err.line >= 1, str(err)
    assert f"line {err.line}" in str(err) and f"field {field}" in str(err)
    assert (home / "quarantine" / DAY.isoformat() / name).is_file()
    assert not (home / "inbox" / DAY.isoformat() / name).exists()
    assert _snapshot(engine) == before
    with engine.connect() as c:
        rows = c.execute(select(IngestedFile.status, IngestedFile.line, IngestedFile.field)
                         .where(IngestedFile.name == name)).all()
    assert rows == [("rejected", err.line, field)]


def _drop_balance_row(b: bytes, account: bytes) -> bytes:
    """The balances file without `account`'s row, its trailer (if any) recounted so only the gap is wrong."""
    ls = [r for r in _lines(b) if not (r.split(b",")[1:2] == [account])]
    if ls[-1].startswith(b"#EOF|"):
        head = [r.decode() for r in ls if not r.startswith(b"#")][0].split(",")
        rows = [r.decode().split(",") for r in ls if not r.startswith(b"#")][1:]
        total = sum(Decimal(r[head.index("dtbp")]) for r in rows)
        ls[-1] = f"#EOF|{len(rows)}|{total}".encode()
    return _join(ls)


def test_sod_load_when_an_account_in_positions_is_missing_from_balances_then_balances_rejected_naming_it(
    tmp_path: Path,
) -> None:
    from flows.clearing.runs import run_sod_load

    root = tmp_path / "clearer"
    publisher.publish_sod(root, DAY, initial_book())
    bal = publisher.day_dir(root, DAY) / "balances_20261112.csv"
    bal.write_bytes(_drop_balance_row(bal.read_bytes(), b"3PX00102"))
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    upgrade(url)
    eng = make_engine(url)
    home = tmp_path / "home"

    with pytest.raises(FileRejectedError) as info:
        run_sod_load(eng, LocalDirSource(root), DAY, home, core=None)

    err = info.value
    assert err.field == "account_id" and err.line is not None, str(err)
    assert "3PX00102" in str(err) and "missing from balances" in str(err)
    assert (home / "quarantine" / DAY.isoformat() / bal.name).is_file()
    with eng.connect() as c:
        assert c.execute(text("SELECT count(*) FROM sod_balances")).scalar_one() == 0
        rows = c.execute(select(IngestedFile.status, IngestedFile.field).where(IngestedFile.name == bal.name)).all()
    assert rows == [("rejected", "account_id")]
    eng.dispose()


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_demo_trouble_when_balances_corrupted_then_rejected_on_the_line_and_field_it_names(
    seed: int, engine: Engine, tmp_path: Path,
) -> None:
    """The demo's seeded bad balances file (flows/orchestration/demo_trouble.py) in the enveloped format: the
    corrupt amount is in a balance row (header and trailer untouched) and the loader names exactly it."""
    from flows.orchestration import demo_trouble

    root = tmp_path / "served"
    publisher.publish_sod(root, DAY, initial_book())
    bad = demo_trouble.corrupt_balances(root, DAY, seed)
    assert bad.field == "equity" and bad.line >= 3
    with pytest.raises(FileRejectedError) as info:
        check_balances(bad.path, DAY, known_clearing_accounts(engine))
    assert (info.value.line, info.value.field) == (bad.line, bad.field), str(info.value)
    demo_trouble.redeliver(bad)
    check_balances(bad.path, DAY, known_clearing_accounts(engine))
