"""Pre-open clock checks: is the core clock within tolerance of its source? Pure, over heartbeat readings.

FINRA Rule 4590 wants business clocks synchronized before the open; CAT allows 50 ms to NIST; the house
tolerance is tighter. Fail closed: a core that reports no offset fails both checks. `run_clock_report` is the
daily report's wiring from the clock-sync log (core_bridge/clocksync.py) to reports/clock.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core_bridge.clocksync import ClockTolerances
from flows.checks.preopen import Finding


def _us(ns: int) -> str:
    return f"{ns / 1000:.1f} us"


def clock_findings(offsets_ns: Sequence[int | None], tolerances: ClockTolerances, *, source: str = "") -> list[Finding]:
    """`offsets_ns`: the readings of the heartbeats heard (None where a heartbeat carried none)."""
    known = [abs(o) for o in offsets_ns if o is not None]
    if not known or len(known) < len(offsets_ns):
        why = "no heartbeat heard" if not offsets_ns else "a heartbeat carried no clock_offset_ns"
        return [Finding("clock-offset-house", "fail", f"offset unknown: {why}"),
                Finding("clock-offset-cat", "fail", f"offset unknown: {why}")]
    worst = max(known)
    src = f" ({source}, {len(known)} readings)" if source else f" ({len(known)} readings)"
    return [
        Finding("clock-offset-house", "ok" if worst <= tolerances.house_ns else "fail",
                f"max |offset| {_us(worst)}, house tolerance {_us(tolerances.house_ns)}{src}"),
        Finding("clock-offset-cat", "ok" if worst <= tolerances.cat_ns else "fail",
                f"max |offset| {_us(worst)}, CAT tolerance {_us(tolerances.cat_ns)}{src}"),
    ]


def run_clock_report(home: Path, day: dt.date, tolerances: ClockTolerances, reports_dir: Path) -> tuple[dict[str, Any],
                                                                                                         list[Path]]:
    """Read the day's clock-sync log (absent: no readings, and the report says so) and write the report."""
    from core_bridge.clocksync import DIRNAME, log_path, read_clock_log
    from reports.clock import ClockWindow, clock_document, write_clock_report
    from reports.render import source

    path = log_path(home / DIRNAME, day)
    samples = read_clock_log(path) if path.is_file() else []
    windows = [ClockWindow(s.time_ns, s.node, s.source, s.offset_ns, s.max_abs_offset_ns) for s in samples]
    doc = clock_document(day, windows, house_ns=tolerances.house_ns, cat_ns=tolerances.cat_ns,
                         sources=[source("clock-sync log", path, shown_path=path.relative_to(home).as_posix())])
    return doc, write_clock_report(doc, reports_dir)
