"""Rule 204 end to end on real sockets: the clearing twin's CNS fails file → regsho-closeout's body → the penalty
box pushed to the twin core through the audited client (`set_preborrow`) → shorts there need pre-borrowed
shares (LOCATE_PREBORROW_REQUIRED beyond them), other symbols keep their locates; a fail closed by a purchase in
the journal stays out; a re-run changes nothing (same report bytes, same push); a bad file is rejected whole,
quarantined, and the core's penalty box is left as it was."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from core_bridge.audit import default_path, iter_lines
from core_bridge.client.commands import CoreClient
from core_bridge.protocol import Side, from_fixed
from flows.clearing.closeout_run import run_regsho_closeout
from flows.errors import FileRejectedError
from flows.sources.sftp import LocalDirSource
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import Execution, IngestedFile
from hw.clearing_twin import ftd, publisher
from hw.clearing_twin.book import initial_book
from hw.refdata import SECURITIES_BY_SYMBOL
from hw.twin.launch import TwinHandle

DAY = dt.date(2026, 11, 20)
LAST_SETTLEMENT, ITS_TRADE = dt.date(2026, 11, 19), dt.date(2026, 11, 18)


def _short(clordid: int, symbol: str, qty: int) -> dict[str, object]:
    return {"action": "new", "clordid": clordid, "account": "PROP01", "symbol": symbol, "side": "SHORT",
            "qty": qty, "price": from_fixed(SECURITIES_BY_SYMBOL[symbol].ref_price), "ord_type": "LIMIT", "tif": "DAY",
            "venue": "NSDQ"}


def test_penalty_box_when_a_short_fail_is_past_its_deadline_then_pushed_and_enforced_by_the_core(
        twin_core: TwinHandle, tmp_path: Path, sqlite_url: str) -> None:
    root, home = tmp_path / "served", twin_core.home
    publisher.publish_sod(root, DAY, initial_book())  # ETB and pre-borrow lists (INTC: 2,000 pre-borrowed)
    fails = ftd.demo_fails(DAY, LAST_SETTLEMENT, ITS_TRADE)  # INTC short (due today), MSFT long (due 24 Nov)
    fails.append(ftd.FailRow("F-NVDA", LAST_SETTLEMENT, ITS_TRADE, "NVDA", "67066G104", "short", 100))
    ftd.publish_ftd(root, DAY, fails)
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:  # the firm bought NVDA on the settlement date: that fail is closed
        s.add(Execution(epoch=1, seq=10, trade_date=LAST_SETTLEMENT,
                        ts_ns=int(dt.datetime(2026, 11, 19, 15, tzinfo=dt.UTC).timestamp()) * 1_000_000_000,
                        account="PROP01", symbol="NVDA", side=int(Side.BUY), venue=1, qty=100, price=1_000_000,
                        leaves_qty=0, order_id=77, venue_order_id=1, exec_id=1))
    core = CoreClient.from_settings(identity="operator", operator="closeout-test")
    source = LocalDirSource(root)
    reports = home / "reports" / DAY.isoformat()
    try:
        run = run_regsho_closeout(engine, source, DAY, home, core, reports)
        status = {s.fail.fail_id: s.status for s in run.statuses}
        assert status == {"F20261120001": "past_deadline", "F20261120002": "open", "F-NVDA": "closed"}
        assert run.box == {"INTC": 2_000}
        snap = core.snapshot().result
        assert snap["preborrow_required"] == {"INTC": 2_000} and snap["preborrow_date"] == DAY.isoformat()

        res = core.submit_orders([_short(1, "INTC", 2_500), _short(2, "INTC", 1_500), _short(3, "INTC", 600),
                                  _short(4, "NVDA", 100)], reason="penalty box").result["results"]
        assert [r["code"] for r in res] == ["LOCATE_PREBORROW_REQUIRED", "OK", "LOCATE_PREBORROW_REQUIRED", "OK"]
        assert core.snapshot().result["preborrow_required"] == {"INTC": 500}  # 1,500 of the 2,000 drawn

        audited = [o for _, o in iter_lines(default_path(home)) if o and o.get("command") == "set_preborrow"]
        assert audited and audited[-1]["operator"] == "closeout-test" and "Rule 204(b)" in audited[-1]["reason"]

        html = run.outputs[0].read_bytes()
        again = run_regsho_closeout(engine, source, DAY, home, core, reports)
        assert again.outputs[0].read_bytes() == html and again.box == run.box
        assert again.pushed["set_preborrow"] == run.pushed["set_preborrow"]  # same key: replayed, not re-applied

        bad_day = dt.date(2026, 11, 23)
        publisher.publish_sod(root, bad_day, initial_book())
        path = ftd.publish_ftd(root, bad_day, fails)
        path.write_bytes(path.read_bytes().replace(b"|short|300", b"|short|3OO"))
        with pytest.raises(FileRejectedError, match="line 4 field QUANTITY"):
            run_regsho_closeout(engine, source, bad_day, home, core, home / "reports" / bad_day.isoformat())
        assert (home / "quarantine" / bad_day.isoformat() / path.name).is_file()
        with session_scope(engine) as s:
            row = s.scalars(select(IngestedFile).where(IngestedFile.name == path.name)).one()
            assert (row.status, row.line, row.field) == ("rejected", 4, "QUANTITY")
        assert core.snapshot().result["preborrow_required"] == {"INTC": 500}  # nothing pushed
    finally:
        core.close()
        engine.dispose()
