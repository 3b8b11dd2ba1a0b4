"""The annual review pack of SEC 15c3-5(e): control inventory, limit history, reject statistics, incidents
and control test evidence over a period, from the daily evidence already written under reports/<date>/:

- controls/controls_<date>.json   the daily controls report (limits, kills, rejects, four-eyes findings)
- compliance/control_verification_<date>.json   control-verification runs (boundary tests)
- recon/breaks.csv                reconciliation breaks;  ha/*.json  HA drills (failovers)

Every file read is listed with its sha256; a session without a controls report is listed as a gap rather
than skipped silently. Pure over the files (no core, no Prefect); reports/compliance.py renders it.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from flows.calendars import is_session
from flows.controls.inventory import CONTROLS
from flows.errors import ComplianceError

MAX_PERIOD_DAYS = 400  # a review covers a year; more is a typo


def period(d1: dt.date, d2: dt.date) -> list[dt.date]:
    if d1 > d2:
        raise ComplianceError(f"--from {d1} is after --to {d2}")
    if (d2 - d1).days > MAX_PERIOD_DAYS:
        raise ComplianceError(f"period {d1}..{d2} is longer than {MAX_PERIOD_DAYS} days")
    return [d1 + dt.timedelta(days=i) for i in range((d2 - d1).days + 1)]


def _read(path: Path, sources: list[dict[str, str]], home: Path) -> bytes:
    raw = path.read_bytes()
    sources.append({"name": path.name, "path": path.relative_to(home).as_posix() if path.is_relative_to(home)
                    else str(path), "sha256": hashlib.sha256(raw).hexdigest()})
    return raw


def _json(path: Path, sources: list[dict[str, str]], home: Path) -> Any:
    try:
        return json.loads(_read(path, sources, home))
    except ValueError as exc:
        raise ComplianceError(f"{path}: not JSON ({exc})") from None


def _breaks(path: Path, sources: list[dict[str, str]], home: Path) -> list[dict[str, str]]:
    text = _read(path, sources, home).decode("utf-8")
    return list(csv.DictReader(text.splitlines()))


def build_review(reports_root: Path, home: Path, d1: dt.date, d2: dt.date) -> dict[str, Any]:
    """The pack's JSON document for [d1, d2] (both inclusive)."""
    days = period(d1, d2)
    sources: list[dict[str, str]] = []
    sessions = [d for d in days if is_session(d)]
    daily: dict[str, dict[str, Any]] = {}
    runs: list[dict[str, Any]] = []
    breaks: list[dict[str, Any]] = []
    failovers: list[dict[str, Any]] = []
    for d in days:
        rep = reports_root / d.isoformat()
        f = rep / "controls" / f"controls_{d.isoformat()}.json"
        if f.is_file():
            daily[d.isoformat()] = _json(f, sources, home)
        v = rep / "compliance" / f"control_verification_{d.isoformat()}.json"
        if v.is_file():
            runs.append(_json(v, sources, home))
        b = rep / "recon" / "breaks.csv"
        if b.is_file():
            breaks += [{"date": d.isoformat(), "break_id": r.get("break_id", ""), "type": r.get("btype", ""),
                        "status": r.get("status", ""), "account": r.get("account", ""),
                        "symbol": r.get("symbol", "")} for r in _breaks(b, sources, home)]
        for h in sorted((rep / "ha").glob("*.json")) if (rep / "ha").is_dir() else []:
            doc = _json(h, sources, home)
            for drill in doc.get("drills", []) if isinstance(doc, dict) else []:
                failovers.append({"date": d.isoformat(), "scenario": drill.get("scenario"),
                                  "result": "PASS" if drill.get("ok") else "FAIL"})
    return {
        "from": d1.isoformat(), "to": d2.isoformat(), "sessions": len(sessions),
        "days_with_controls_report": len(daily),
        "gaps": [d.isoformat() for d in sessions if d.isoformat() not in daily],
        "inventory": inventory(runs),
        "limit_history": [{"date": day, **c} for day, doc in sorted(daily.items())
                          for c in doc["limits"]["changes"]],
        "four_eyes_findings": [{"date": day, **f} for day, doc in sorted(daily.items())
                               for f in doc.get("four_eyes_findings", [])],
        "reject_statistics": reject_statistics(daily),
        "incidents": {
            "kills": [{"date": day, **{k: e[k] for k in ("utc", "scope", "key", "level", "origin", "operator",
                                                         "reason", "duration_s")}}
                      for day, doc in sorted(daily.items()) for e in doc["kills"]["events"] if e["level"] != "ACTIVE"],
            "recon_breaks": breaks, "failovers": failovers},
        "verification": {"runs": [{"date": r["date"], "passed": r["passed"], "steps": len(r["results"]),
                                   "failed": sum(1 for x in r["results"] if not x["passed"])} for r in runs],
                         "latest": runs[-1] if runs else None},
        "sources": sources,
    }


def inventory(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest = runs[-1] if runs else None
    out = []
    for c in CONTROLS:
        tested = (latest or {}).get("by_control", {}).get(c.name)
        out.append({"control": c.name, "rule": c.rule, "reason_codes": [rc.name for rc in c.codes],
                    "enforced": c.enforced, "parameters": list(c.parameters), "code": c.code, "test": c.test,
                    "last_verified": latest["date"] if latest and tested else None,
                    "verification": ("PASS" if tested["passed"] == tested["steps"] else "FAIL") if tested
                    else "not run in the period"})
    return out


def reject_statistics(daily: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    total: dict[str, int] = defaultdict(int)
    days: dict[str, int] = defaultdict(int)
    peak: dict[str, tuple[int, str]] = {}
    names: list[str] = []
    for day, doc in sorted(daily.items()):
        for r in doc["rejects"]["by_control"]:
            if r["control"] not in names:
                names.append(r["control"])
            total[r["control"]] += r["count"]
            if r["count"]:
                days[r["control"]] += 1
                if r["count"] > peak.get(r["control"], (0, ""))[0]:
                    peak[r["control"]] = (r["count"], day)
    return [{"control": n, "rejects": total[n], "days_with_rejects": days[n],
             "peak_day": peak.get(n, (0, None))[1], "peak_count": peak.get(n, (0, None))[0]} for n in names]
