"""`regsho-closeout`'s body: load the CNS fails file, compute the Rule 204 deadlines and closures, push the
penalty box to the core, write the report. Idempotent per date: the file is loaded once (sha256), the push
carries a key derived from its content, the report is rewritten byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine, select

from core_bridge.protocol import Side
from flows.calendars import require_session
from flows.clearing.closeout import (
    CLOSEOUT_RULES,
    PURCHASE_WINDOW_NOTE,
    SALE_TYPES,
    FailStatus,
    Purchase,
    before_open,
    deadline_day,
    evaluate,
    penalty_box,
)
from flows.clearing.ftd import KIND, FtdFile, read_ftd_file
from flows.clearing.ingest import IngestResult, ingest
from flows.clearing.shortsale import ingest_short_lists
from flows.errors import CoreNotAckedError
from flows.sources.sftp import FileSource
from flows.store.db import session_scope
from flows.store.models import Execution, Locate, ShoListType
from reports.regsho_closeout import write_closeout_report


class PreborrowPort(Protocol):
    def set_preborrow(self, date: str, symbols: dict[str, int], reason: str = "", *,
                      idempotency_key: str | None = None) -> Any: ...


@dataclass
class CloseoutRun:
    date: dt.date
    files: list[IngestResult] = field(default_factory=list)
    statuses: list[FailStatus] = field(default_factory=list)
    box: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, Any] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    doc: dict[str, Any] = field(default_factory=dict)


def remote_path(day: dt.date) -> str:
    return f"outgoing/{day:%Y%m%d}/cns_ftd_{day:%Y%m%d}.txt"


def load_fails(engine: Engine, source: FileSource, day: dt.date, home: Path) -> tuple[IngestResult, FtdFile]:
    """Ingest the file (rejected whole and quarantined on bad input); on a re-run the file already loaded is
    read again from the source (same sha256) so the run sees the same fails."""
    got: list[FtdFile] = []

    def check(p: Path) -> tuple[Any, Any]:
        got.append(read_ftd_file(p, day, SALE_TYPES))
        return got[-1], None

    res = ingest(engine, source, remote_path(day), kind=KIND, business_date=day, home=home, check=check,
                 load=lambda s, parsed, row: len(parsed.fails))
    if not got:  # skipped: loaded before
        scratch = home / "run" / f"ftd-reread-{day:%Y%m%d}"
        try:
            fetched = source.fetch(remote_path(day), scratch)
            got.append(read_ftd_file(fetched.local, day, SALE_TYPES))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return res, got[0]


def purchases(engine: Engine, symbols: set[str], since: dt.date, until: dt.date) -> list[Purchase]:
    if not symbols:
        return []
    with session_scope(engine) as s:
        rows = s.execute(select(Execution.symbol, Execution.ts_ns, Execution.qty, Execution.order_id)
                         .where(Execution.symbol.in_(sorted(symbols)), Execution.side == int(Side.BUY),
                                Execution.trade_date >= since, Execution.trade_date <= until)).all()
    return [Purchase(sym, int(ts), int(q), int(oid)) for sym, ts, q, oid in rows]


def preborrowed(engine: Engine, day: dt.date) -> dict[str, int]:
    with session_scope(engine) as s:
        rows = s.execute(select(Locate.symbol, Locate.available)
                         .where(Locate.business_date == day, Locate.source == ShoListType.PREBORROW.value)).all()
    return {sym: int(q) for sym, q in rows}


def run_regsho_closeout(engine: Engine, source: FileSource, day: dt.date, home: Path, core: PreborrowPort | None,
                        reports_dir: Path, as_of: dt.datetime | None = None) -> CloseoutRun:
    require_session(day)
    run = CloseoutRun(day)
    res, ftd = load_fails(engine, source, day, home)
    run.files = [res, *ingest_short_lists(engine, source, day, home)]  # the pre-borrow list (idempotent)
    since = min((f.settlement_date for f in ftd.fails), default=day)
    buys = purchases(engine, {f.symbol for f in ftd.fails}, since, day)
    when = max(as_of or before_open(day), before_open(day))
    run.statuses = evaluate(ftd.fails, buys, when)
    run.box = penalty_box(run.statuses, preborrowed(engine, day))
    if core is not None:
        key = hashlib.sha256(orjson.dumps([day.isoformat(), sorted(run.box.items())])).hexdigest()[:24]
        reply = core.set_preborrow(day.isoformat(), run.box, reason=f"Rule 204(b) penalty box {day} "
                                   f"({len(run.box)} symbol(s), CNS fails file {res.name})",
                                   idempotency_key=f"preborrow:{day}:{key}")
        if reply is None or not getattr(reply, "ok", False):
            raise CoreNotAckedError(f"set_preborrow: core did not acknowledge ({getattr(reply, 'code', 'no reply')})")
        run.pushed = {"set_preborrow": int(reply.state_version), "symbols": len(run.box)}
    run.doc = closeout_document(day, ftd, res, run.statuses, run.box, when)
    run.outputs = write_closeout_report(run.doc, reports_dir)
    return run


def closeout_document(day: dt.date, ftd: FtdFile, res: IngestResult, statuses: list[FailStatus],
                      box: dict[str, int], as_of: dt.datetime) -> dict[str, Any]:
    return {
        "date": day.isoformat(),
        "as_of": as_of.isoformat(),
        "sources": [{"name": "CNS fails-to-deliver file", "path": res.name, "sha256": res.sha256}],
        "fails": [{
            "fail_id": s.fail.fail_id, "symbol": s.fail.symbol, "cusip": s.fail.cusip, "sale_type": s.fail.sale_type,
            "trade_date": s.fail.trade_date.isoformat(), "settlement_date": s.fail.settlement_date.isoformat(),
            "quantity": s.fail.quantity, "deadline_day": deadline_day(s.fail).isoformat(),
            "deadline": s.deadline.isoformat(), "rule": CLOSEOUT_RULES[s.fail.sale_type].rule,
            "bought_by_deadline": s.bought_by_deadline, "status": s.status, "closed_by_orders": list(s.closed_by),
        } for s in statuses],
        "penalty_box": [{"symbol": sym, "preborrowed_shares": q,
                         "since": min(s.deadline for s in statuses if s.fail.symbol == sym and s.in_penalty_box
                                      ).isoformat()} for sym, q in box.items()],
        "rules": [{"sale_type": r.sale_type, "description": r.description, "rule": r.rule, "verified": r.verified,
                   "deadline": r.note} for r in CLOSEOUT_RULES.values()],
        "notes": [PURCHASE_WINDOW_NOTE],
        "summary": {"fails": len(statuses), "closed": sum(s.status == "closed" for s in statuses),
                    "open": sum(s.status == "open" for s in statuses),
                    "past_deadline": sum(s.status == "past_deadline" for s in statuses),
                    "penalty_box_symbols": len(box)},
    }
