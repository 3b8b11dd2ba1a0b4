"""Gather the day's figures for the daily ops report from the store and the other reports' JSON.

Each section reads its own source; a source that is absent leaves its section empty (the report says
"none") rather than failing the report.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core_bridge.settings import Settings
from reports.ha import drill_row
from reports.ops_report import OpsDay

NY = ZoneInfo("America/New_York")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def drills_from(ha_dir: Path) -> list[dict[str, Any]]:
    """The date's HA drills as flat rows (reports.ha.drill_row), from every report JSON reports/ha.py wrote
    under `ha_dir` (`{"drills": [DrillResult.to_dict(), ...]}`; a lone DrillResult dict counts as one drill)."""
    rows: list[dict[str, Any]] = []
    for p in sorted(ha_dir.glob("*.json")) if ha_dir.is_dir() else []:
        doc = _json(p)
        if not isinstance(doc, dict):
            continue
        listed = doc.get("drills")
        drills: list[Any] = listed if isinstance(listed, list) else [doc] if "scenario" in doc else []
        rows += [drill_row(d) for d in drills if isinstance(d, dict)]
    return rows


def kills_from(kills_dir: Path) -> list[dict[str, str]]:
    """The date's kill-to-flat runs (core_bridge.killflat.timeline reports) as rows with a link to the page."""
    rows: list[dict[str, str]] = []
    for p in sorted(kills_dir.glob("kill-*.json")) if kills_dir.is_dir() else []:
        doc = _json(p)
        if not isinstance(doc, dict) or "outcome" not in doc:
            continue
        started = dt.datetime.fromtimestamp(int(doc.get("started_ns") or 0) / 1e9, dt.UTC).astimezone(NY)
        rows.append({"started": started.strftime("%H:%M:%S ET"),
                     "scope": "firm" if doc.get("key") is None else f"{doc.get('scope')} {doc.get('key')}",
                     "operator": str(doc.get("operator") or ""), "outcome": str(doc["outcome"]),
                     "resting orders": str(len(doc.get("resting_orders") or [])),
                     "flatten orders": str(len(doc.get("flatten_orders") or [])),
                     "still open": "; ".join(doc.get("still_open") or []) or "nothing",
                     "report": f"kills/{p.with_suffix('.html').name}"})
    return rows


def _break_detail(details: Any) -> str:
    if not isinstance(details, dict):
        return str(details or "")
    keep = {k: v for k, v in sorted(details.items()) if not isinstance(v, dict | list)}
    return ", ".join(f"{k}={v}" for k, v in list(keep.items())[:6])


def build_ops_day(settings: Settings, day: dt.date, flows: list[dict[str, str]]) -> OpsDay:
    from sqlalchemy import select

    from core_bridge.protocol import EventType
    from core_bridge.reasons import ReasonCode
    from flows.store.db import make_engine, session_scope
    from flows.store.models import BpSnapshot, IngestedFile, IntradayBreak, ReconBreak
    from flows.store.reader import read_events

    rep = settings.reports_dir(day.isoformat())
    out = OpsDay(date=day.isoformat(), flows=flows)
    engine = make_engine(settings.db_url)
    try:
        ev = read_events(engine, trade_date=day)
        if len(ev):
            hours = [dt.datetime.fromtimestamp(t / 1e9, dt.UTC).astimezone(NY).strftime("%H") for t in ev["ts_ns"]]
            for h, et, rc in zip(hours, ev["etype"], ev["reason"], strict=True):
                name = EventType(int(et)).name
                out.events_by_type[name] = out.events_by_type.get(name, 0) + 1
                if et == EventType.ORDER_NEW:
                    out.orders_by_hour[h] = out.orders_by_hour.get(h, 0) + 1
                if et in (EventType.ORDER_REJECTED, EventType.ROUTE_REJECTED, EventType.REPLACE_REJECTED):
                    out.rejects_by_hour[h] = out.rejects_by_hour.get(h, 0) + 1
                    try:
                        reason = ReasonCode(int(rc)).name
                    except ValueError:
                        reason = str(int(rc))
                    out.rejects_by_reason[reason] = out.rejects_by_reason.get(reason, 0) + 1
        with session_scope(engine, readonly=True) as s:
            latest: dict[str, BpSnapshot] = {}
            for b in s.scalars(select(BpSnapshot).where(BpSnapshot.business_date == day).order_by(BpSnapshot.as_of)):
                latest[b.account] = b
            out.bp_by_account = {
                a: {"available": str(b.available), "used": str(b.reserve + b.haircut_used)} for a, b in latest.items()
            }
            breaks = list(s.scalars(select(ReconBreak).where(ReconBreak.business_date == day)
                                    .order_by(ReconBreak.break_id)))
            out.breaks_by_type = dict(Counter(rb.break_type for rb in breaks))
            files = s.scalars(select(IngestedFile).where(IngestedFile.business_date == day)
                              .order_by(IngestedFile.name, IngestedFile.id)).all()
            loaded = {ing.name for ing in files if ing.status == "loaded"}
            for ing in files:
                if ing.status == "rejected":
                    out.exceptions.append({
                        "kind": "file rejected", "item": ing.name,
                        "detail": f"line {ing.line} field {ing.field}: {ing.error}" if ing.line else str(ing.error),
                        "status": "re-delivered and loaded" if ing.name in loaded else "quarantined, open"})
            for rb in breaks:
                key = " ".join(str(x) for x in (rb.account, rb.symbol) if x)
                out.exceptions.append({"kind": f"recon {rb.break_type}", "item": key or rb.break_id[:12],
                                       "detail": _break_detail(rb.details), "status": rb.status})
            for ib in s.scalars(select(IntradayBreak).where(IntradayBreak.trade_date == day)
                                .order_by(IntradayBreak.first_seen_ns, IntradayBreak.break_id)):
                out.exceptions.append({
                    "kind": f"intraday {ib.btype}", "item": f"exec {ib.exec_id} {ib.account} {ib.symbol}",
                    "detail": f"{ib.detail}; journal {ib.internal_qty} @ {ib.internal_price}, drop copy "
                              f"{ib.clearing_qty} @ {ib.clearing_price}",
                    "status": ib.status + (f" ({ib.close_reason})" if ib.close_reason else "")})
    finally:
        engine.dispose()
    session = _json(rep / "session.json") or {}
    out.latency_ns = {k: float(v) for k, v in (session.get("gate_latency_ns") or {}).items() if v is not None}
    cat = _json(rep / "cat_report.json") or {}
    out.cat_counts = dict(cat.get("counts_by_event") or {})
    for code, n in sorted((cat.get("errors_by_code") or {}).items()):
        outstanding = len(cat.get("repairs_outstanding") or [])
        out.exceptions.append({"kind": "CAT error", "item": f"code {code}", "detail": f"{n} record(s) rejected",
                               "status": f"{outstanding} repair(s) outstanding" if outstanding else
                               f"repaired ({cat.get('repairs_sealed', 0)} RPR sealed)"})
    out.drills = drills_from(rep / "ha")
    out.kills = kills_from(rep / "kills")
    for k in out.kills:
        if k["outcome"] != "flat":
            out.exceptions.append({"kind": "kill not flat", "item": k["scope"], "detail": k["still open"],
                                   "status": "open"})
    for name in ("cat_report.md", "session.json"):
        if (rep / name).exists():
            out.reports[name] = name
    for sub in ("recon", "cat", "regsho", "retention", "ha", "kills", "controls", "compliance", "clock"):
        d = rep / sub
        if d.is_dir():
            for f in sorted(d.iterdir()):
                if f.suffix in (".html", ".md") or f.name.endswith("report.json"):
                    out.reports[f"{sub}/{f.name}"] = f"{sub}/{f.name}"
    return out
