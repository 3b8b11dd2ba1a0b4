"""The clearer's FIX drop copy over a real loopback QuickFIX session into the real ops store (SQLite and
PostgreSQL): lost and garbled messages, restarts of either side and a sequence reset end with exactly the
acceptor's executions stored once; intraday recon then finds every seeded booking error and nothing else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core_bridge.protocol import Side
from flows.fixdrop import store
from flows.fixdrop.session import DropCopyInitiator
from flows.recon.frames import EXEC_COLUMNS, conform
from flows.recon.intraday import NS, reconcile_intraday
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import FixExecution
from hw.clearing_twin.book import Fill
from hw.clearing_twin.fault_plan import FaultConfig, build_plan
from hw.clearing_twin.fix_acceptor import DropCopyAcceptor
from hw.clearing_twin.fix_line import FixLine
from hw.refdata import ACCOUNTS, SECURITIES
from tests.polling import wait_for

DAY = dt.date(2026, 11, 20)
T0 = 1_795_186_800 * NS  # 2026-11-20 15:00 UTC
N_FILLS = 240


def day_fills(n: int = N_FILLS) -> list[Fill]:
    accts = [a.account for a in ACCOUNTS]
    out = []
    for i in range(n):
        sec = SECURITIES[i % len(SECURITIES)]
        out.append(Fill(1000 + i, 500 + i // 2, T0 + i * 1_000_000, accts[i % len(accts)], sec.symbol,
                        Side.BUY if i % 3 else Side.SELL, 100 * (1 + i % 5), sec.ref_price + i))
    return out


def journal_frame(fills: list[Fill]) -> pd.DataFrame:
    cusips = {s.symbol: s.cusip for s in SECURITIES}
    rows = [{"exec_id": str(f.exec_id), "order_id": str(f.order_id), "account": f.account, "cusip": cusips[f.symbol],
             "symbol": f.symbol, "side": 1 if f.side == Side.BUY else -1, "qty": f.qty, "price": f.price,
             "ts_ns": f.ts_ns, "trade_date": DAY.isoformat()} for f in fills]
    return conform(pd.DataFrame(rows, columns=list(EXEC_COLUMNS)), EXEC_COLUMNS, "journal")


def stored_exec_ids(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with session_scope(engine, readonly=True) as s:
        return list(s.execute(select(FixExecution.exec_id)).scalars())


def caught_up(acc: DropCopyAcceptor, engine, upto: int) -> bool:  # type: ignore[no-untyped-def]
    """The acceptor sent its first `upto` reports and every one of them is committed in the ops store."""
    if acc.sent < upto:
        return False
    return set(stored_exec_ids(engine)) == {r.exec_id for r in acc.plan.reports[:upto]}


def _world(tmp_path: Path, url: str):  # type: ignore[no-untyped-def]
    upgrade(url)
    engine = make_engine(url)
    yield tmp_path, engine
    engine.dispose()


@pytest.fixture
def world(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    yield from _world(tmp_path, db_url)


@pytest.fixture
def sqlite_world(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    # The store path is proven on both back ends above; this one is about recon's verdicts.
    yield from _world(tmp_path, sqlite_url)


def test_gaps_restarts_and_reset_when_session_recovers_then_each_execution_stored_once(world) -> None:  # type: ignore[no-untyped-def]
    home, engine = world
    fills = day_fills()
    plan = build_plan(fills, FaultConfig(seed=3, withheld=1))
    acc = DropCopyAcceptor(home / "acceptor", plan, DAY, heartbeat_s=1)
    acc.release_to(60)
    acc.start()
    line = FixLine(acc.port).start()
    ini = DropCopyInitiator(home / "ops", engine, "127.0.0.1", line.port, heartbeat_s=1).start()
    try:
        wait_for(lambda: ini.writer.stored >= 60, 20, "first 60 reports")
        # 1. Lose 4 reports on the line and garble 2: gap -> ResendRequest -> PossDup resend.
        line.drop_next(4)
        line.garble_next(2)
        acc.release_to(100)
        wait_for(lambda: caught_up(acc, engine, 100), 20, "gap recovered")
        assert line.dropped == 4 and line.garbled == 2
        wait_for(lambda: ini.garbled >= 2, 10, "garbled messages counted")
        # 2. Kill the initiator with reports received but not committed; a new one asks for them again.
        acc.release_to(150)
        wait_for(lambda: ini.received >= 145, 20, "reports up to 150")
        ini.stop(commit=False)
        ini = DropCopyInitiator(home / "ops", engine, "127.0.0.1", line.port, heartbeat_s=1).start()
        wait_for(lambda: caught_up(acc, engine, 150), 20, "initiator restart recovered")
        # 3. Restart the acceptor mid-day: it resumes the plan from its FileStore.
        acc.stop()
        acc = DropCopyAcceptor(home / "acceptor", plan, DAY, port=acc.port, heartbeat_s=1)
        assert acc.sent == 0
        acc.release_to(200)
        acc.start()
        assert acc.sent == 150
        wait_for(lambda: caught_up(acc, engine, 200), 20, "acceptor restart")
        # 4. The clearer renumbers (SequenceReset-Reset) and sends the rest.
        acc.sequence_reset(1000)
        acc.release_to(None)
        wait_for(lambda: caught_up(acc, engine, len(plan.reports)), 30, "the whole plan after the reset")
        assert ini.writer.committed_seq > 1000
        ini.writer.flush()
    finally:
        ini.stop()
        acc.stop()
        line.stop()
    ids = stored_exec_ids(engine)
    want = {r.exec_id for r in plan.reports}
    assert len(ids) == len(set(ids)) == len(want)
    assert set(ids) == want
    got = store.counts(engine, DAY)
    assert got == {"trades": plan.trade_count, "busts": 1, "corrections": 1}
    frame = store.dropcopy_frame(engine, DAY)
    assert frame["state"].value_counts().to_dict() == {"new": plan.trade_count - 2, "busted": 1, "corrected": 1}
    with session_scope(engine, readonly=True) as s:
        dups = s.execute(select(func.count()).where(FixExecution.poss_dup.is_(True))).scalar_one()
    assert dups >= 4  # the resent reports arrived flagged PossDup (43=Y) or PossResend (97=Y)
    assert ini.rejected == 0


def test_intraday_recon_when_plan_has_booking_errors_then_each_found_with_its_type_and_nothing_else(
        sqlite_world) -> None:  # type: ignore[no-untyped-def]
    home, engine = sqlite_world
    fills = day_fills(80)
    plan = build_plan(fills, FaultConfig(seed=5, withheld=1, duplicates=1, delays=2))
    acc = DropCopyAcceptor(home / "acceptor", plan, DAY, heartbeat_s=1).start()
    ini = DropCopyInitiator(home / "ops", engine, "127.0.0.1", acc.port, heartbeat_s=1).start()
    try:
        wait_for(lambda: caught_up(acc, engine, len(plan.reports)), 20, "the day's plan")
        ini.writer.flush()
    finally:
        ini.stop()
        acc.stop()
    lost = fills[7]  # the journal lost one fill the clearer booked: missing at the core
    assert str(lost.exec_id) not in plan.faults
    journal = journal_frame([f for f in fills if f is not lost])
    ca = {a.account: a.clearing_account for a in ACCOUNTS}
    now = T0 + 3600 * NS
    r = reconcile_intraday(journal, store.dropcopy_frame(engine, DAY), journal.iloc[0:0][["exec_id"]].assign(
        break_id="", btype=""), trade_date=DAY.isoformat(), now_ns=now, clearing_accounts=ca)
    want = plan.expected_breaks() | {str(lost.exec_id): "MISSING_INTERNAL"}
    assert dict(zip(r.breaks["exec_id"], r.breaks["btype"], strict=True)) == want
    assert len(r.breaks) == len(want) == 6
    assert (r.breaks["age_s"] > 3000).all()


def _fields(raw: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in raw.split("\x01") if p)


def test_malformed_reports_when_sent_on_the_live_session_then_each_rejected_naming_its_tag_and_the_rest_booked(
        sqlite_world) -> None:  # type: ignore[no-untyped-def]
    import json

    import quickfix as fix

    from hw.clearing_twin.fix_session import report_message

    home, engine = sqlite_world
    plan = build_plan(day_fills(20), FaultConfig(seed=2, wrong_account=0, wrong_qty=0, busts=0, corrections=0,
                                                 duplicates=0, delays=0))
    acc = DropCopyAcceptor(home / "acceptor", plan, DAY, heartbeat_s=1)
    acc.release_to(10)
    acc.start()
    ini = DropCopyInitiator(home / "ops", engine, "127.0.0.1", acc.port, heartbeat_s=1).start()
    try:
        wait_for(lambda: caught_up(acc, engine, 10), 20, "first 10 reports")
        good = report_message(plan.reports[10], DAY)
        bad = {  # ExecType New is not a booking; a report without ClearingAccount cannot be booked
            150: good.replace(f"\x0117={plan.reports[10].exec_id}\x01", "\x0117=BAD-150\x01").replace(
                "\x01150=F\x01", "\x01150=0\x01"),
            440: good.replace(f"\x0117={plan.reports[10].exec_id}\x01", "\x0117=BAD-440\x01").replace(
                f"\x01440={plan.reports[10].clearing_account}\x01", "\x01"),
        }
        assert all(b != good for b in bad.values())
        seqs = {}
        for tag, raw in bad.items():
            seqs[tag] = fix.Session.lookupSession(acc.session_id).getExpectedSenderNum()
            fix.Session.sendToTarget(fix.Message(raw, False), acc.session_id)
        wait_for(lambda: len(acc.session_rejects) == 2, 20, "two session Rejects back at the clearer")
        acc.release_to(None)
        wait_for(lambda: caught_up(acc, engine, len(plan.reports)), 20, "the rest of the day")
        ini.writer.flush()
        assert ini.writer.committed_seq > max(seqs.values())  # a refused report still consumed its number
    finally:
        ini.stop()
        acc.stop()
    got = {int(_fields(r)["45"]): _fields(r) for r in acc.session_rejects}
    assert set(got) == set(seqs.values())
    for tag, seq in seqs.items():
        assert got[seq]["35"] == "3" and got[seq]["371"] == str(tag) and got[seq]["372"] == "8"
        assert got[seq]["373"] == ("1" if tag == 440 else "5")  # required tag missing / value incorrect
    assert ini.rejected == 2
    lines = [json.loads(x) for x in (home / "ops" / "rejects.jsonl").read_text().splitlines()]
    assert sorted((x["tag"], x["seq"]) for x in lines) == sorted((t, s) for t, s in seqs.items())
    assert all("BAD-" in x["message"] for x in lines)
    assert not any(i.startswith("BAD-") for i in stored_exec_ids(engine))
