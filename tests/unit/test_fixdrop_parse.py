"""ExecutionReport strings into store rows: every field as the clearer sends it, and each malformed one refused
whole with the tag at fault."""

from __future__ import annotations

import datetime as dt

import pytest

from core_bridge.protocol import Side
from flows.errors import FixReportError
from flows.fixdrop.parse import parse_price, parse_utc_ns, report_row
from hw.clearing_twin.book import Fill
from hw.clearing_twin.fault_plan import Report
from hw.clearing_twin.fix_session import report_message

DAY = dt.date(2026, 11, 20)
TS = 1_795_186_800_123_456_000
FILL = Fill(1001, 77, TS, "PROP01", "AAPL", Side.SHORT, 300, 2_301_234)


def wire(r: Report, seq: int = 5) -> str:
    """The message as the initiator's engine hands it over: header with MsgSeqNum filled in."""
    return report_message(r, DAY).replace("8=FIX.4.4\x019=0\x01", f"8=FIX.4.4\x019=0\x0134={seq}\x01", 1)


def test_report_row_when_trade_then_every_field_as_sent() -> None:
    r = Report("trade", "1001", "1001", FILL, "PROP01", "3PX00101", 300, 2_301_234, TS)
    row = report_row(wire(r), 42)
    assert row | {"received_ns": 0} == {
        "exec_id": "1001", "ref_exec_id": "1001", "exec_type": "F", "ord_status": "2", "order_id": "77",
        "clordid": "77", "account": "PROP01", "exec_broker": "CLOP", "clearing_firm": "0443",
        "clearing_account": "3PX00101", "symbol": "AAPL", "side": "5", "last_qty": 300, "last_px": 2_301_234,
        "transact_ns": TS, "trade_date": DAY, "last_mkt": "XNAS", "msg_seq": 5, "poss_dup": False,
        "received_ns": 0, "state": "new", "eff_qty": 300, "eff_px": 2_301_234, "eff_account": "PROP01",
        "eff_clearing_account": "3PX00101", "applied_ns": None}


def test_report_row_when_bust_or_resend_then_reference_and_flag_kept() -> None:
    bust = report_row(wire(Report("bust", "1001-B", "1001", FILL, "PROP01", "3PX00101", 0, 2_301_234, TS)), 0)
    assert (bust["exec_type"], bust["ref_exec_id"], bust["last_qty"]) == ("H", "1001", 0)
    dup = Report("trade", "1001", "1001", FILL, "PROP01", "3PX00101", 300, 2_301_234, TS, resend=True)
    assert report_row(wire(dup), 0)["poss_dup"] is True


GOOD = wire(Report("trade", "1001", "1001", FILL, "PROP01", "3PX00101", 300, 2_301_234, TS))
BAD = [
    ("no_seq", GOOD.replace("\x0134=5\x01", "\x01"), 34),
    ("no_exec_id", GOOD.replace("\x0117=1001\x01", "\x01"), 17),
    ("exec_type_new", GOOD.replace("\x01150=F\x01", "\x01150=0\x01"), 150),
    ("side", GOOD.replace("\x0154=5\x01", "\x0154=9\x01"), 54),
    ("qty_not_number", GOOD.replace("\x0132=300\x01", "\x0132=3e2\x01"), 32),
    ("qty_zero", GOOD.replace("\x0132=300\x01", "\x0132=0\x01"), 32),
    ("price_5dp", GOOD.replace("\x0131=230.1234\x01", "\x0131=230.12345\x01"), 31),
    ("time", GOOD.replace("\x0160=20261120-", "\x0160=2026-11-20T"), 60),
    ("trade_date", GOOD.replace("\x0175=20261120\x01", "\x0175=20261340\x01"), 75),
    ("bust_without_ref", GOOD.replace("\x01150=F\x01", "\x01150=H\x01"), 19),
]


@pytest.mark.parametrize(("name", "raw", "tag"), BAD, ids=[b[0] for b in BAD])
def test_report_row_when_field_malformed_then_refused_naming_the_tag(name: str, raw: str, tag: int) -> None:
    with pytest.raises(FixReportError) as err:
        report_row(raw, 0)
    assert err.value.tag == tag
    assert f"tag {tag}" in str(err.value)


@pytest.mark.parametrize(("text", "want"), [("230", 2_300_000), ("230.5", 2_305_000), ("0.0001", 1),
                                            ("-1.25", -12_500)])
def test_parse_price_when_decimal_then_exact_fixed_point(text: str, want: int) -> None:
    assert parse_price(text, 1, 31) == want


@pytest.mark.parametrize(("text", "want"), [("20261120-15:00:00", 1_795_186_800 * 10**9),
                                            ("20261120-15:00:00.5", 1_795_186_800_500_000_000),
                                            ("20261120-15:00:00.123456", 1_795_186_800_123_456_000)])
def test_parse_utc_ns_when_fix_timestamp_then_ns(text: str, want: int) -> None:
    assert parse_utc_ns(text, 1, 60) == want
