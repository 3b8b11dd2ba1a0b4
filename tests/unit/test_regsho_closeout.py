"""Reg SHO Rule 204: close-out deadlines on the settlement calendar (table-driven: weekends, NYSE holidays,
bank holidays when NYSE trades, early closes), closure by purchases, the penalty box, and the fails file's
bad input (rejected whole with line and field)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.clearing.closeout import CLOSEOUT_RULES, SALE_TYPES, Purchase, deadline, evaluate, penalty_box
from flows.clearing.ftd import Fail, read_ftd_file
from flows.errors import FileRejectedError
from hw.clearing_twin.ftd import FailRow, ftd_file

D = dt.date
UTC = dt.UTC


def _fail(sale: str, td: dt.date, sd: dt.date, fid: str = "F1", symbol: str = "INTC", qty: int = 300) -> Fail:
    return Fail(fid, sd, td, symbol, "458140100", sale, qty)


# (sale type, trade date, settlement date, deadline: 09:30 New York of this day, as UTC)
DEADLINES = [
    # plain week: short -> S+1, long / market making -> S+3 settlement days
    ("short", D(2026, 11, 18), D(2026, 11, 19), dt.datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
    ("long", D(2026, 11, 16), D(2026, 11, 17), dt.datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
    ("market_making", D(2026, 11, 16), D(2026, 11, 17), dt.datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
    # over a weekend
    ("short", D(2026, 11, 19), D(2026, 11, 20), dt.datetime(2026, 11, 23, 14, 30, tzinfo=UTC)),
    # Veterans Day (Wed 11 Nov 2026): NYSE trades, DTC is closed -> not a settlement day
    ("short", D(2026, 11, 9), D(2026, 11, 10), dt.datetime(2026, 11, 12, 14, 30, tzinfo=UTC)),
    ("long", D(2026, 11, 6), D(2026, 11, 9), dt.datetime(2026, 11, 13, 14, 30, tzinfo=UTC)),
    # Columbus Day (Mon 12 Oct 2026), in daylight saving time: 09:30 ET is 13:30 UTC
    ("short", D(2026, 10, 8), D(2026, 10, 9), dt.datetime(2026, 10, 13, 13, 30, tzinfo=UTC)),
    # Thanksgiving (Thu 26 Nov 2026, closed) and its early close (Fri 27 Nov, 13:00): the deadline is still the
    # 09:30 open of the early-close day
    ("short", D(2026, 11, 24), D(2026, 11, 25), dt.datetime(2026, 11, 27, 14, 30, tzinfo=UTC)),
    ("long", D(2026, 11, 24), D(2026, 11, 25), dt.datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
    # Christmas Eve early close (Thu 24 Dec) settles; Christmas (Fri 25 Dec) does not
    ("short", D(2026, 12, 23), D(2026, 12, 24), dt.datetime(2026, 12, 28, 14, 30, tzinfo=UTC)),
    ("long", D(2026, 12, 22), D(2026, 12, 23), dt.datetime(2026, 12, 29, 14, 30, tzinfo=UTC)),
    # Rule 144: 35 calendar days from the trade date (20 Nov + 35 = Christmas) rolled to the next settlement day
    ("rule144", D(2026, 11, 20), D(2026, 11, 23), dt.datetime(2026, 12, 28, 14, 30, tzinfo=UTC)),
]


@pytest.mark.parametrize(("sale", "td", "sd", "expected"), DEADLINES)
def test_deadline_when_sale_type_and_dates_given_then_the_open_of_the_rule_day(sale: str, td: dt.date, sd: dt.date,
                                                                               expected: dt.datetime) -> None:
    assert deadline(_fail(sale, td, sd)) == expected


def test_rules_table_when_read_then_every_sale_type_has_a_rule_and_unverified_rows_say_so() -> None:
    assert SALE_TYPES == {"short", "long", "market_making", "rule144"}
    assert [r.sale_type for r in CLOSEOUT_RULES.values() if not r.verified] == ["rule144"]
    assert "unverified" in CLOSEOUT_RULES["rule144"].note


def _ns(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000_000


SD = D(2026, 11, 19)  # short fail's settlement date; deadline Fri 20 Nov 14:30 UTC
DUE = dt.datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("buys", "as_of", "status", "bought"),
    [
        ([(dt.datetime(2026, 11, 19, 15, 0, tzinfo=UTC), 300)], DUE, "closed", 300),
        ([(dt.datetime(2026, 11, 19, 15, 0, tzinfo=UTC), 100), (dt.datetime(2026, 11, 20, 13, 0, tzinfo=UTC), 200)],
         DUE, "closed", 300),  # two lots, the second pre-market on the deadline day
        ([(dt.datetime(2026, 11, 19, 15, 0, tzinfo=UTC), 299)], DUE, "past_deadline", 299),
        ([(dt.datetime(2026, 11, 18, 15, 0, tzinfo=UTC), 300)], DUE, "past_deadline", 0),  # before the fail arose
        ([(dt.datetime(2026, 11, 20, 15, 0, tzinfo=UTC), 300)], DUE, "past_deadline", 0),  # after the deadline
        ([], DUE - dt.timedelta(hours=1), "open", 0),
        ([], DUE, "past_deadline", 0),  # due at the open: past for the morning run (fail closed)
    ],
)
def test_evaluate_when_purchases_given_then_status_at_deadline(buys: list[tuple[dt.datetime, int]],
                                                              as_of: dt.datetime, status: str, bought: int) -> None:
    ps = [Purchase("INTC", _ns(t), q, i) for i, (t, q) in enumerate(buys, start=1)]
    (got,) = evaluate([_fail("short", D(2026, 11, 18), SD)], ps, as_of)
    assert (got.status, got.bought_by_deadline) == (status, bought)


def test_evaluate_when_one_purchase_two_fails_then_each_share_counts_once_earliest_deadline_first() -> None:
    short = _fail("short", D(2026, 11, 18), SD, "F1", qty=300)  # due 20 Nov
    long_ = _fail("long", D(2026, 11, 18), SD, "F2", qty=200)  # due 24 Nov
    buy = [Purchase("INTC", _ns(dt.datetime(2026, 11, 19, 15, tzinfo=UTC)), 400, 7)]
    by_id = {s.fail.fail_id: s for s in evaluate([long_, short], buy, dt.datetime(2026, 11, 25, 15, tzinfo=UTC))}
    assert (by_id["F1"].status, by_id["F1"].bought_by_deadline, by_id["F1"].closed_by) == ("closed", 300, (7,))
    assert (by_id["F2"].status, by_id["F2"].bought_by_deadline) == ("past_deadline", 100)
    assert penalty_box(by_id.values(), {"INTC": 2_000}) == {"INTC": 2_000}


def test_penalty_box_when_nothing_past_deadline_then_empty_and_unknown_preborrow_is_zero() -> None:
    st = evaluate([_fail("short", D(2026, 11, 18), SD, symbol="NVDA")], [], DUE)
    assert penalty_box(st, {}) == {"NVDA": 0}
    assert penalty_box(evaluate([_fail("long", D(2026, 11, 18), SD)], [], DUE), {}) == {}


# --- the fails file -----------------------------------------------------------------------------------------
DAY = D(2026, 11, 20)
TS = dt.datetime(2026, 11, 20, 9, tzinfo=UTC)


def _good() -> bytes:
    rows = [FailRow("F1", D(2026, 11, 19), D(2026, 11, 18), "INTC", "458140100", "short", 300),
            FailRow("F2", D(2026, 11, 19), D(2026, 11, 18), "MSFT", "594918104", "long", 200)]
    return ftd_file(DAY, rows, TS)


def _line(i: int, fn: Callable[[str], str]) -> Callable[[str], str]:
    def go(text: str) -> str:
        ls = text.split("\n")
        ls[i] = fn(ls[i])
        return "\n".join(ls)
    return go


def _field(i: int, col: int, value: str) -> Callable[[str], str]:
    return _line(i, lambda ln: "|".join(value if k == col else v for k, v in enumerate(ln.split("|"))))


BAD = [
    ("no header", _line(0, lambda ln: "FAIL_ID|x"), 1, "record_type"),
    ("other firm", _field(0, 2, "ZZ99"), 1, "firm_id"),
    ("other date", _field(0, 3, "20261119"), 1, "as_of_date"),
    ("truncated", lambda t: "\n".join(t.split("\n")[:-2]) + "\n", 4, "record_type"),
    ("count", _field(4, 1, "3"), 5, "record_count"),
    ("control total", _field(4, 2, "501"), 5, "control_total"),
    ("column header", _line(1, lambda ln: ln.replace("SALE_TYPE", "SIDE")), 2, "header"),
    ("repeated id", _field(3, 0, "F1"), 4, "FAIL_ID"),
    ("bad date", _field(2, 1, "2026-11-19"), 3, "SETTLEMENT_DATE"),
    ("trade after settlement", _field(2, 2, "20261120"), 3, "TRADE_DATE"),
    ("future settlement", _field(2, 1, "20261123"), 3, "SETTLEMENT_DATE"),
    ("check digit", _field(2, 4, "458140101"), 3, "CUSIP"),
    ("sale type", _field(2, 5, "sell"), 3, "SALE_TYPE"),
    ("quantity", _field(2, 6, "-300"), 3, "QUANTITY"),
    ("fields", _line(3, lambda ln: ln + "|extra"), 4, "QUANTITY"),
]


@pytest.mark.parametrize(("what", "mutate", "line", "field"), BAD, ids=[b[0] for b in BAD])
def test_ftd_when_bad_input_then_rejected_whole_naming_line_and_field(tmp_path: Path, what: str,
                                                                      mutate: Callable[[str], str], line: int,
                                                                      field: str) -> None:
    p = tmp_path / "cns_ftd_20261120.txt"
    p.write_bytes(mutate(_good().decode()).encode())
    with pytest.raises(FileRejectedError) as ei:
        read_ftd_file(p, DAY, SALE_TYPES)
    assert (ei.value.line, ei.value.field) == (line, field), str(ei.value)


def test_ftd_when_the_twin_writes_it_then_the_loader_reads_every_fail(tmp_path: Path) -> None:
    p = tmp_path / "cns_ftd_20261120.txt"
    p.write_bytes(_good())
    got = read_ftd_file(p, DAY, SALE_TYPES)
    assert [(f.fail_id, f.symbol, f.sale_type, f.quantity) for f in got.fails] == [
        ("F1", "INTC", "short", 300), ("F2", "MSFT", "long", 200)]
    assert got.envelope.record_count == 2
