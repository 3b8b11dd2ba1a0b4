"""Report bytes and the clearer trade-file reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from flows.errors import FileRejectedError
from flows.recon.sources import parse_trades
from reports.recon import ReconReport, render_csv, render_html, write_report


def _row(bid: str, btype: str, status: str = "OPEN", age: int = 0) -> dict[str, Any]:
    return {"break_id": bid, "btype": btype, "status": status, "first_seen": "2026-11-19", "age_days": age,
            "account": "PROP01", "symbol": "AAPL", "cusip": "037833100", "exec_id": "1", "internal_qty": 100,
            "clearing_qty": None, "core_qty": None, "detail": "x <y>", "resolution": "", "signoff_by": ""}


def _report(rows: list[dict[str, Any]]) -> ReconReport:
    return ReconReport("2026-11-20", {"breaks": len(rows)}, rows, [("2026-11-19", 1, 1), ("2026-11-20", 2, 1)],
                       {"clearer trades": "3"})


def test_report_when_rows_in_any_order_then_same_bytes_and_escaped(tmp_path: Path) -> None:
    rows = [_row("B2", "QTY_MISMATCH", age=3), _row("B1", "MISSING_AT_CLEARING"), _row("B3", "PRICE_MISMATCH",
                                                                                      status="SIGNED_OFF")]
    a, b = _report(rows), _report(list(reversed(rows)))
    assert render_html(a) == render_html(b) and render_csv(a) == render_csv(b)
    html = render_html(a)
    assert "x &lt;y&gt;" in html and "<svg" in html and "2 OPEN BREAK(S)" in html
    paths = write_report(a, tmp_path / "recon")
    first = {k: p.read_bytes() for k, p in paths.items()}
    write_report(b, tmp_path / "recon")
    assert {k: p.read_bytes() for k, p in paths.items()} == first
    assert render_csv(a).decode().splitlines()[1].startswith("B1,MISSING_AT_CLEARING,OPEN")


def test_report_when_no_breaks_then_clean() -> None:
    assert "CLEAN" in render_html(_report([]))


HEADER = ("type,timestamp,client_trade_id,date,account_id,quantity,price,instrument.identifier,"
          "instrument.identifier_type,instrument.cusip,instrument.country,instrument.currency,side.direction,"
          "side.qualifier,capacity,mic,order_id,exec_id,locate.id,locate.source,settlement.date")
GOOD = ("exchange_trade,1795700000000,T1,20261120,3PX00101,100,230.01,AAPL,ticker,037833100,USA,USD,buy,,"
        "principal,XNAS,7,42,,,20261123")
BOF = "#TRADES|CLEARTWIN|CT01|20261120|20261120220000"


def _file(*rows: str, bof: str = BOF, eof: str | None = None) -> str:
    """A trade file: header record, column names, `rows`, trailer (by default counting the rows)."""
    if eof is None:
        qty = sum(int(r.split(",")[5]) if r.split(",")[5].isdigit() else 0 for r in rows)
        eof = f"#EOF|{len(rows)}|{qty}"
    return "\n".join([bof, HEADER, *rows, eof]) + "\n"


def test_parse_trades_when_valid_then_exact_fixed_point_and_sides(tmp_path: Path) -> None:
    p = tmp_path / "trades.csv"
    p.write_text(_file(GOOD, GOOD.replace(",buy,", ",sell,").replace(",42,", ",43,")))
    f = parse_trades(p, business_date=dt.date(2026, 11, 20))
    assert f["price"].tolist() == [2_300_100, 2_300_100] and f["side"].tolist() == [1, -1]
    assert f["trade_date"].tolist()[0] == "2026-11-20" and f["settle_date"].tolist()[0] == "2026-11-23"
    assert f["ts_ns"].tolist()[0] == 1_795_700_000_000_000_000


def test_parse_trades_when_no_trades_then_empty_frame_with_header_and_trailer(tmp_path: Path) -> None:
    p = tmp_path / "trades.csv"
    p.write_text(_file())
    assert parse_trades(p).empty


@pytest.mark.parametrize(
    ("bad", "line", "field"),
    [
        (GOOD.replace(",buy,", ",hold,"), 4, "side.direction"),
        (GOOD.replace(",100,", ",1x0,"), 4, "quantity"),
        (GOOD.replace(",20261120,", ",20261340,"), 4, "date"),
        (GOOD.replace(",230.01,", ",abc,"), 4, "price"),
        (GOOD.rsplit(",", 1)[0], 4, None),
    ],
)
def test_parse_trades_when_a_record_is_bad_then_rejected_naming_line_and_field(
        tmp_path: Path, bad: str, line: int, field: str | None) -> None:
    p = tmp_path / "trades.csv"
    p.write_text(_file(GOOD, bad))
    with pytest.raises(FileRejectedError) as exc:
        parse_trades(p)
    assert (exc.value.line, exc.value.field) == (line, field)


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("\n".join([BOF, HEADER, GOOD, GOOD.replace(",42,", ",43,")]) + "\n", 4, "record_type"),  # no trailer
        ("\n".join([HEADER, GOOD, "#EOF|1|100"]) + "\n", 1, "record_type"),  # no header record
        (_file(GOOD, GOOD.replace(",42,", ",43,"), eof="#EOF|3|200"), 5, "record_count"),
        (_file(GOOD, GOOD.replace(",42,", ",43,"), eof="#EOF|2|201"), 5, "control_total"),
        (_file(GOOD, bof=BOF.replace("|20261120|", "|20261119|")), 1, "as_of_date"),  # header date mismatch
        (_file(GOOD, bof=BOF.replace("|20261120|", "||")), 1, "as_of_date"),  # header date missing
        (_file(GOOD, bof=BOF.replace("|CT01|", "|CT02|")), 1, "firm_id"),
        (_file(GOOD)[:-5], 4, "line_ending"),  # cut inside the trailer
    ],
    ids=["no-trailer", "no-header", "bad-count", "bad-total", "header-date-mismatch", "header-date-missing",
         "other-firm", "truncated-mid-line"],
)
def test_parse_trades_when_header_or_trailer_wrong_then_rejected_whole(tmp_path: Path, text: str, line: int,
                                                                       field: str) -> None:
    p = tmp_path / "trades.csv"
    p.write_text(text)
    with pytest.raises(FileRejectedError) as exc:
        parse_trades(p, business_date=dt.date(2026, 11, 20))
    assert (exc.value.line, exc.value.field) == (line, field), str(exc.value)
