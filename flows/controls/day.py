"""The daily 15c3-5 controls evidence of one business date, as the JSON document reports/controls.py renders.

Sources (each listed with its sha256 in the document): the journal's records of the date, the control audit
log's attempts of the audit day (the date itself unless a simulated session says otherwise), the approved
limits file, and — when preopen-check saved one — the core's own limits snapshot taken before the open,
which then is the baseline the audit log's later changes are replayed onto.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.protocol import EventType
from flows.controls.daily import cancel_alls, exposure_peaks, kill_events, limits_changed_events, rejects
from flows.controls.evidence import (
    audit_records,
    audit_source,
    day_window_ns,
    file_source,
    journal_records,
    journal_source,
)
from flows.controls.limit_history import FIRM, LimitBook, replay
from flows.controls.limits import load_limits
from flows.dates import NY, ny_time_ns

PREOPEN_SNAPSHOT = "limits_preopen.json"  # written by preopen-check under reports/<date>/controls/
# The journal records the report is computed from (and whose bytes its journal sha256 covers): gate rejects,
# fills (exposure), kill levels and limit changes. Order-flow events in between change no figure here.
EVIDENCE_TYPES = [int(t) for t in (EventType.ORDER_REJECTED, EventType.REPLACE_REJECTED, EventType.ORDER_FILLED,
                                   EventType.KILL_STATE_CHANGED, EventType.LIMITS_CHANGED)]


@dataclass(frozen=True)
class DayInputs:
    day: dt.date
    journal_dir: Path
    audit_path: Path
    limits_file: Path
    controls_dir: Path  # reports/<date>/controls/
    home: Path | None = None
    audit_day: dt.date | None = None  # the wall-clock date the day's control commands were sent on
    roles: dict[str, str] | None = None  # CURVE identity name -> role (roles.json), to tell admin approvals


def _baseline(inp: DayInputs) -> tuple[LimitBook, int, str]:
    """(book, replay audit records sent after this UTC ns, what the baseline is)."""
    snap = inp.controls_dir / PREOPEN_SNAPSHOT
    if snap.is_file():
        doc = json.loads(snap.read_text())
        limits = doc["limits"]
        book = LimitBook.from_approved(limits.get(FIRM, {}), {k: v for k, v in limits.items() if k != FIRM})
        return book, int(doc["taken_ns"]), "core limits snapshot at preopen-check"
    approved = load_limits(inp.limits_file)
    return (LimitBook.from_approved(approved["firm"], approved.get("accounts") or {}), 0,
            "approved limits file (no preopen snapshot)")


def _ny_date(ts_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).astimezone(NY).date()


def four_eyes_findings(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each raise without a distinct approver, or permanent without an admin's approval (docs/compliance.md)."""
    out = []
    for c in changes:
        if c["kind"] != "raise":
            continue
        problems = []
        if not c.get("approver_identity"):
            problems.append("no signed approval record")
        elif c["approver_identity"] == c.get("identity"):
            problems.append("approver identity is the requester's")
        if c["permanent"] and not c.get("approved_by_admin"):
            problems.append("permanent raise not approved by an admin")
        if problems:
            out.append({"utc": c["utc"], "account": c["account"], "id": c["id"], "problems": problems})
    return out


def build_controls_day(inp: DayInputs) -> dict[str, Any]:
    start, end = day_window_ns(inp.day)
    recs = journal_records(inp.journal_dir, start, end)
    recs = recs[np.isin(recs["etype"], EVIDENCE_TYPES)]  # what the report reads is what it hashes
    book, after_ns, baseline = _baseline(inp)
    # Audit times are the sending host's clock. With a simulated session date (a twin) they are not on `day`:
    # the session's control commands are those of the day preopen-check ran (its snapshot's clock), unless
    # the caller names the audit day. The open is 09:30 of that day; for a simulated session (audit day not the
    # date) the wall clock has no open, so "at the open" is at the preopen check.
    audit_day = inp.audit_day or (_ny_date(after_ns) if after_ns else inp.day)
    a_start, a_end = day_window_ns(audit_day)
    audit = audit_records(inp.audit_path, a_start, a_end)
    a_open = ny_time_ns(audit_day, 9, 30) if audit_day == inp.day or not after_ns else after_ns
    at_open, changes, pending = replay(book, [r for r in audit if int(r.get("ts_ns") or 0) > after_ns], a_open,
                                       a_end)
    roles = inp.roles or {}
    for c in changes:
        c["approved_by_admin"] = roles.get(str(c.get("approver_identity"))) == "admin"
    kills = kill_events(recs, audit, end)
    core_changes = limits_changed_events(recs)
    sources = [journal_source(inp.journal_dir, recs, inp.home), audit_source(inp.audit_path, audit, inp.home),
               file_source("approved limits file", inp.limits_file, inp.home),
               file_source("preopen limits snapshot", inp.controls_dir / PREOPEN_SNAPSHOT, inp.home)]
    findings = four_eyes_findings(changes)
    day_changes = [c for c in changes if not c["pre_open"]]
    checks = [
        {"check": "every limit change the audit log shows is in the journal (LIMITS_CHANGED)",
         "ok": len(core_changes) >= len(changes),  # each applied change and revert emits one event
         "detail": f"{len(changes)} audited changes and reverts, {len(core_changes)} LIMITS_CHANGED events"},
        {"check": "every raise under four eyes", "ok": not findings,
         "detail": f"{len(findings)} raise(s) without a valid approval" if findings else "all raises approved"},
        {"check": "every kill event attributed", "ok": all(k["origin"] != "core" for k in kills),
         "detail": f"{sum(1 for k in kills if k['origin'] == 'core')} kill event(s) with no audit record"},
    ]
    rej = rejects(recs)
    exposure = exposure_peaks(recs)
    return {
        "date": inp.day.isoformat(), "audit_day": audit_day.isoformat(),
        "sources": [s.to_dict() for s in sources],
        "limits": {"baseline": baseline, "at_open": at_open, "changes": changes, "pending_at_end": pending,
                   "core_events": core_changes},
        "kills": {"events": kills, "cancel_alls": cancel_alls(audit)},
        "rejects": rej, "exposure": exposure, "four_eyes_findings": findings, "checks": checks,
        "accounts": per_account(at_open, day_changes, kills, rej, exposure),
        "summary": {"journal_records": len(recs), "audit_records": len(audit), "limit_changes": len(day_changes),
                    "raises": sum(1 for c in day_changes if c["kind"] == "raise"),
                    "reverts": sum(1 for c in day_changes if c["kind"] == "revert (automatic)"),
                    "kill_events": len(kills), "automatic_kills": sum(1 for k in kills if k["origin"] == "automatic"),
                    "rejects": rej["total"], "ok": all(c["ok"] for c in checks)},
    }


def per_account(at_open: dict[str, Any], changes: list[dict[str, Any]], kills: list[dict[str, Any]],
                rej: dict[str, Any], exposure: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per account the day touched (limits overrides, changes, kills, rejects or fills)."""
    names = ({a for a in at_open if a != FIRM} | {c["account"] for c in changes if c["account"]}
             | {k["key"] for k in kills if k["scope"] == "account" and k["key"]} | set(rej["by_account"])
             | set(exposure["accounts"]))
    rows = []
    for a in sorted(n for n in names if n):
        peak = exposure["accounts"].get(a) or {}
        rows.append({"account": a, "limit_changes": sum(1 for c in changes if c["account"] == a),
                     "kill_events": sum(1 for k in kills if k["scope"] == "account" and k["key"] == a),
                     "rejects": sum(rej["by_account"].get(a, {}).values()),
                     "peak_gross": peak.get("peak_gross", "0"), "peak_net": peak.get("peak_net", "0")})
    return rows
