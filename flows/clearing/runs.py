"""The clearing flows' bodies as plain functions (the Prefect flows only wire settings, tasks and artifacts).

Each is idempotent for a date: files already loaded are skipped by sha256, pushes carry idempotency keys
derived from their content, locate grants and BP snapshots are upserts keyed by date (and slot).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, select

from flows.calendars import previous_settlement_day, require_session
from flows.clearing import locate_log
from flows.clearing.bp import BpInputs, BpResult, compute_bp, working_reserve
from flows.clearing.ingest import IngestResult
from flows.clearing.locate_sources import list_source, loaded_sources, record_lines, report_sources, stale_reason
from flows.clearing.shortsale import availability, ingest_short_lists, ingest_threshold_lists, lists_from_store
from flows.clearing.sod import CorePort, ingest_sod_files, push_sod_positions, sod_positions_for_core
from flows.errors import CoreNotAckedError, StaleInputError
from flows.sources.sftp import FileSource
from flows.store.db import session_scope
from flows.store.models import BpSnapshot, LocateLog, SodBalance, SodPosition
from reports.regsho import RegShoDay, UnlocatedShort, write_regsho_report

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    flow: str
    date: dt.date
    files: list[IngestResult] = field(default_factory=list)
    pushed: dict[str, Any] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.flow} {self.date}", "", "| file | status | records | sha256 |", "|---|---|---|---|"]
        lines += [f"| {f.name} | {f.status} | {f.records} | {f.sha256[:12]} |" for f in self.files]
        if self.pushed:
            lines += ["", "core acknowledged: " + ", ".join(f"{k}={v}" for k, v in self.pushed.items())]
        if self.alerts:
            lines += ["", "**alerts**:"] + [f"- {a}" for a in self.alerts]
        if self.outputs:
            lines += ["", "outputs:"] + [f"- {o}" for o in self.outputs]
        return "\n".join(lines) + "\n"


def _key(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps([str(p) for p in parts])).hexdigest()[:24]


def _acked(reply: Any, what: str) -> int:
    if reply is None or not getattr(reply, "ok", False):
        raise CoreNotAckedError(f"{what}: core did not acknowledge ({getattr(reply, 'code', 'no reply')})")
    return int(reply.state_version)


def run_sod_load(engine: Engine, source: FileSource, day: dt.date, home: Path, core: CorePort | None,
                 on_step: Callable[[str, RunSummary], None] | None = None) -> RunSummary:
    """`on_step(step, summary)` after each coarse step: "loaded" (files fetched, validated, loaded), "pushed"."""
    require_session(day)
    summary = RunSummary("sod-load", day, files=ingest_sod_files(engine, source, day, home))
    positions = sod_positions_for_core(engine, day)
    if on_step is not None:
        on_step("loaded", summary)
    if core is not None:
        reply = push_sod_positions(core, day, positions, summary.files[0].sha256)
        summary.pushed = {"set_sod_positions": _acked(reply, "set_sod_positions"),
                          "accounts": len(positions), "positions": sum(len(p) for p in positions.values())}
        if on_step is not None:
            on_step("pushed", summary)
    return summary


def run_locates(engine: Engine, source: FileSource, day: dt.date, home: Path, core: CorePort | None,
                now: dt.datetime | None = None) -> RunSummary:
    require_session(day)
    list_day = previous_settlement_day(day)
    summary = RunSummary("locates", day)
    summary.files += ingest_short_lists(engine, source, day, home)
    summary.files += ingest_threshold_lists(engine, source, list_day, home)
    lists = lists_from_store(engine, day, list_day)
    etb = next((f for f in summary.files if f.source == "clearing.etb"), None)
    stale = stale_reason(list_source(source, home, day, etb, "etb"), day) if etb is not None else None
    if stale:  # Rule 203(b)(1): a stale ETB list is no reasonable ground: no ETB locates today (fail closed)
        lists["etb"] = {}
        summary.alerts.append(stale)
    grants = availability(lists["etb"], lists["preborrow"], lists["threshold"])
    locate_log.record_grants(engine, day, grants, now or dt.datetime.now(dt.UTC))
    if core is not None:
        avail = {s: g.granted for s, g in grants.items()}
        reply = core.set_locates(day.isoformat(), avail, reason=f"locates {day} (threshold lists of {list_day})",
                                 idempotency_key=f"locates:{day}:{_key(sorted(avail.items()))}")
        summary.pushed = {"set_locates": _acked(reply, "set_locates"), "symbols": len(avail)}
    if stale:
        raise StaleInputError(stale)
    return summary


def run_regsho_report(engine: Engine, day: dt.date, reports_dir: Path) -> RunSummary:
    """After the day's executions are in the store: usage into the locate log, then the report files."""
    require_session(day)
    list_day = previous_settlement_day(day)
    usage = locate_log.short_sales(engine, day)
    locate_log.record_usage(engine, day, usage)
    lists = lists_from_store(engine, day, list_day)
    with session_scope(engine) as s:
        logs = list(s.scalars(select(LocateLog).where(LocateLog.business_date == day)))
        from flows.store.models import Execution

        traded = s.execute(select(Execution.symbol, Execution.qty).where(Execution.trade_date == day)).all()
    granted = {r.symbol: r.granted for r in logs}
    rep = RegShoDay(day, list_day)
    loaded = loaded_sources(engine, day)
    rep.locates = record_lines(logs, usage, loaded, day)
    rep.sources = report_sources(loaded)
    rep.unlocated_shorts = [UnlocatedShort(sym, u.qty, granted.get(sym, 0), tuple(u.order_ids))
                            for sym, u in usage.items() if u.qty > granted.get(sym, 0)]
    for sym, qty in traded:
        if sym in lists["threshold"]:
            rep.threshold_traded[sym] = rep.threshold_traded.get(sym, 0) + int(qty)
    rep.preborrow = {s: q for s, (_, q) in lists["preborrow"].items()}
    summary = RunSummary("regsho-report", day, outputs=[str(p) for p in write_regsho_report(rep, reports_dir)])
    if rep.unlocated_shorts:
        summary.alerts.append(f"{len(rep.unlocated_shorts)} short sale(s) without a locate: "
                              + ", ".join(u.symbol for u in rep.unlocated_shorts))
    return summary


def run_bp_refresh(engine: Engine, day: dt.date, core: CorePort, as_of: dt.datetime, excess_net_capital: Decimal,
                   tentative_net_capital: Decimal) -> tuple[RunSummary, dict[str, BpResult]]:
    """Compute, store and push BP for every account; restrictive (0) where an input is stale or missing."""
    require_session(day)
    summary = RunSummary("bp-refresh", day)
    snap = core.snapshot()
    if snap is None or not getattr(snap, "ok", False):
        raise CoreNotAckedError("snapshot: core did not answer; BP left as the core has it (fail closed there)")
    state = snap.result
    accounts = list(state.get("accounts") or [])
    positions = state.get("positions") or {}
    reserve = working_reserve(state.get("working_orders"), int(state.get("orders_working") or 0))
    with session_scope(engine) as s:
        bal = {a: bp for a, bp in s.execute(select(SodBalance.account, SodBalance.buying_power)
                                             .where(SodBalance.business_date == day))}
        marks = {sym: int(px) for sym, px in s.execute(select(SodPosition.symbol, SodPosition.price)
                                                        .where(SodPosition.business_date == day))}
    from hw.refdata import SECURITIES

    for sec in SECURITIES:  # a name the firm did not hold overnight has no clearing mark: use the reference price
        marks.setdefault(sec.symbol, sec.ref_price)
    inputs = {a: BpInputs(bal.get(a), positions.get(a, {}) if a in accounts else None,
                          None if reserve is None else reserve.get(a, Decimal(0)))
              for a in sorted(set(accounts) | set(bal))}
    results = compute_bp(inputs, marks, excess_net_capital, tentative_net_capital)
    for r in results.values():
        if r.status != "ok":
            summary.alerts.append(f"{r.account}: BP pushed as 0 (fail closed): {'; '.join(r.problems)}")
            log.error("bp-refresh %s %s: restrictive: %s", day, r.account, "; ".join(r.problems))
    bp = {a: r.available for a, r in results.items()}
    as_of_ns = int(as_of.timestamp()) * 1_000_000_000
    reply = core.set_bp(bp, as_of_ns, reason=f"bp-refresh {day} {as_of.isoformat()}",
                        idempotency_key=f"bp:{day}:{as_of_ns}:{_key(sorted(bp.items()))}")
    version = _acked(reply, "set_bp")
    with session_scope(engine) as s:
        existing = {r.account: r for r in s.scalars(select(BpSnapshot).where(
            BpSnapshot.business_date == day, BpSnapshot.as_of == as_of))}
        for a, r in results.items():
            vals = {"clearing_bp": r.clearing_bp, "house_bp": r.house_bp, "haircut_used": r.haircut_used,
                    "reserve": r.reserve, "available": r.available, "status": r.status}
            row = existing.get(a)
            if row is None:
                s.add(BpSnapshot(business_date=day, as_of=as_of, account=a, pushed_state_version=version,
                                 pushed_at=as_of, **vals))
            elif any(getattr(row, k) != v for k, v in vals.items()):
                for k, v in vals.items():
                    setattr(row, k, v)
                row.pushed_state_version = version
    summary.pushed = {"set_bp": version, "accounts": len(bp)}
    return summary, results
