"""Wiring of the daily controls report from settings to files (the flow and `opsctl compliance` call this)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from core_bridge.audit import default_path
from core_bridge.settings import Settings
from flows.controls.day import DayInputs, build_controls_day
from flows.controls.limits import LIMITS_FILE


def roles_by_name(keys_dir: Path) -> dict[str, str]:
    """CURVE identity name -> role, from roles.json (empty when this host has none)."""
    path = keys_dir / "roles.json"
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text())
    return {str(v["name"]): str(v["role"]) for v in doc.values() if isinstance(v, dict) and "name" in v}


def day_inputs(settings: Settings, day: dt.date, audit_day: dt.date | None = None) -> DayInputs:
    return DayInputs(day=day, journal_dir=settings.journal_dir, audit_path=default_path(settings.home),
                     limits_file=Path(str(settings.get("controls.limits_file", LIMITS_FILE))),
                     controls_dir=settings.reports_dir(day.isoformat()) / "controls", home=settings.home,
                     audit_day=audit_day, roles=roles_by_name(settings.keys_dir))


def run_controls_report(settings: Settings, day: dt.date, audit_day: dt.date | None = None
                        ) -> tuple[dict[str, Any], list[Path]]:
    from reports.controls import write_controls_report

    inp = day_inputs(settings, day, audit_day)
    doc = build_controls_day(inp)
    return doc, write_controls_report(doc, inp.controls_dir)


def preopen_limits(settings: Settings, day: dt.date, snapshot: dict[str, Any], taken_ns: int) -> list[Any]:
    """preopen-check's limits step: reconcile the approved file with the core's runtime limits (findings), and
    keep the core's limits as the controls report's baseline for the day (written once: the first check's)."""
    from core_bridge.audit import read_audit
    from flows.controls.day import PREOPEN_SNAPSHOT
    from flows.controls.limits import load_limits, reconcile_limits

    inp = day_inputs(settings, day)
    findings = reconcile_limits(load_limits(inp.limits_file), snapshot, read_audit(inp.audit_path).records,
                                inp.roles or {})
    path = inp.controls_dir / PREOPEN_SNAPSHOT
    if not path.exists():
        inp.controls_dir.mkdir(parents=True, exist_ok=True)
        doc = {"taken_ns": taken_ns, "limits": snapshot.get("limits") or {},
               "temp_limits": snapshot.get("temp_limits") or [], "limits_version": snapshot.get("limits_version")}
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    return findings
