"""The daily clock-synchronization report: a pure writer from the day's clock-sync log to reports/<date>/clock/
(clock_<date>.json and clock_<date>.html with the offset over the day).

Figures come from the log's one-second windows (core_bridge/clocksync.py): the largest |offset| of the day,
windows beyond the house tolerance and beyond CAT's 50 ms, the breach intervals (consecutive windows out of
tolerance), and windows with no reading (unknown is not in sync). The chart shows at most CHART_POINTS
buckets, each the largest |offset| in it, so a one-second excursion is never averaged away. Byte-identical
for the same log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reports.markdown import table as md_table
from reports.render import markup, render, write_html_json
from reports.svg import line_chart

NY = ZoneInfo("America/New_York")
CHART_POINTS = 240


@dataclass(frozen=True)
class ClockWindow:
    time_ns: int
    node: str
    source: str
    offset_ns: int | None
    max_abs_offset_ns: int | None


def _et(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, NY).strftime("%H:%M:%S")


def _breaches(windows: list[ClockWindow], tolerance_ns: int, kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    prev_t: int | None = None
    for w in windows:
        bad = w.max_abs_offset_ns is not None and w.max_abs_offset_ns > tolerance_ns
        adjacent = prev_t is not None and w.time_ns - prev_t <= 1_000_000_000
        if bad and cur is not None and adjacent:
            cur["end_ns"] = w.time_ns + 1_000_000_000
            cur["windows"] += 1
            cur["max_abs_offset_ns"] = max(cur["max_abs_offset_ns"], w.max_abs_offset_ns)
        elif bad:
            cur = {"tolerance": kind, "node": w.node, "start_ns": w.time_ns, "end_ns": w.time_ns + 1_000_000_000,
                   "windows": 1, "max_abs_offset_ns": w.max_abs_offset_ns}
            out.append(cur)
        else:
            cur = None
        prev_t = w.time_ns
    for b in out:
        b["start_et"], b["end_et"] = _et(b["start_ns"]), _et(b["end_ns"])
    return out


def clock_document(date: dt.date, windows: list[ClockWindow], *, house_ns: int, cat_ns: int,
                   sources: list[dict[str, str]]) -> dict[str, Any]:
    """The whole report as data (the JSON file; the HTML and the artifact are views of it)."""
    ws = sorted(windows, key=lambda w: w.time_ns)
    known = [w for w in ws if w.max_abs_offset_ns is not None]
    worst = max(known, key=lambda w: (w.max_abs_offset_ns or 0, -w.time_ns), default=None)
    house = _breaches(ws, house_ns, "house")
    cat = _breaches(ws, cat_ns, "cat")
    return {
        "date": date.isoformat(),
        "tolerances_ns": {"house": house_ns, "cat": cat_ns},
        "sources": sources,
        "summary": {
            "windows": len(ws),
            "windows_without_reading": len(ws) - len(known),
            "first_window_et": _et(ws[0].time_ns) if ws else None,
            "last_window_et": _et(ws[-1].time_ns) if ws else None,
            "max_abs_offset_ns": worst.max_abs_offset_ns if worst else None,
            "max_abs_offset_at_et": _et(worst.time_ns) if worst else None,
            "windows_beyond_house_tolerance": sum(b["windows"] for b in house),
            "windows_beyond_cat_tolerance": sum(b["windows"] for b in cat),
            "house_breaches": len(house),
            "cat_breaches": len(cat),
            "in_tolerance": bool(ws) and not house and not cat and len(known) == len(ws),
        },
        "breaches": house + cat,
        "series": _buckets(ws),
        "nodes": sorted({w.node for w in ws}),
        "clock_sources": sorted({w.source for w in ws}),
    }


def _buckets(ws: list[ClockWindow]) -> list[dict[str, Any]]:
    """At most CHART_POINTS buckets of equal length: the largest |offset| in each (None when no reading)."""
    if not ws:
        return []
    t0, t1 = ws[0].time_ns, ws[-1].time_ns + 1_000_000_000
    width = max(1_000_000_000, -(-(t1 - t0) // CHART_POINTS))
    out: dict[int, int | None] = {}
    for w in ws:
        k = (w.time_ns - t0) // width
        cur = out.get(k)
        v = w.max_abs_offset_ns
        out[k] = v if cur is None else (cur if v is None else max(cur, v))
    return [{"start_et": _et(t0 + k * width), "minutes": round(k * width / 60e9, 3), "max_abs_offset_ns": v}
            for k, v in sorted(out.items())]


def _tables(doc: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]], str]]:
    s, tol = doc["summary"], doc["tolerances_ns"]

    def us(v: int | None) -> str:
        return "unknown" if v is None else f"{v / 1000:.1f}"

    return {
        "Summary": (["figure", "value"], [
            ["house tolerance (µs)", us(tol["house"])], ["CAT tolerance (µs)", us(tol["cat"])],
            ["one-second windows logged", s["windows"]], ["windows without a reading", s["windows_without_reading"]],
            ["first / last window (ET)", f"{s['first_window_et']} / {s['last_window_et']}"],
            ["max |offset| (µs)", us(s["max_abs_offset_ns"])], ["at (ET)", s["max_abs_offset_at_et"]],
            ["breaches of the house tolerance", s["house_breaches"]],
            ["breaches of the CAT tolerance", s["cat_breaches"]],
            ["in tolerance all day", "yes" if s["in_tolerance"] else "NO"],
        ], "none"),
        "Breaches": (["tolerance", "node", "from (ET)", "to (ET)", "seconds", "max |offset| (µs)"],
                     [[b["tolerance"], b["node"], b["start_et"], b["end_et"], b["windows"],
                       us(b["max_abs_offset_ns"])] for b in doc["breaches"]],
                     "none: the clock stayed within both tolerances"),
    }


def markdown_summary(doc: dict[str, Any]) -> str:
    """The Prefect artifact: the same tables as the HTML."""
    lines = [f"# Clock synchronization {doc['date']}", ""]
    for title, (headers, rows, empty) in _tables(doc).items():
        lines += [f"## {title}", "", md_table(headers, rows, empty), ""]
    return "\n".join(lines)


def render_html(doc: dict[str, Any]) -> str:
    pts = [p for p in doc["series"] if p["max_abs_offset_ns"] is not None]
    house_us = doc["tolerances_ns"]["house"] / 1000
    chart = line_chart([p["minutes"] for p in pts],
                       {"max |offset| (µs)": [p["max_abs_offset_ns"] / 1000 for p in pts],
                        "house tolerance (µs)": [house_us for _ in pts]},
                       title="Clock offset over the day (µs, largest |offset| per bucket)", width=720,
                       x_label="min from first window", empty=f"no clock readings logged for {doc['date']}")
    return render("clock.html.j2", title=f"Clock synchronization {doc['date']}",
                  report_name="Clock synchronization", business_date=doc["date"], sources=doc["sources"],
                  doc=doc, chart=markup(chart), tables=_tables(doc))


def write_clock_report(doc: dict[str, Any], reports_dir: Path) -> list[Path]:
    """Write clock_<date>.json and clock_<date>.html under reports_dir/clock; returns the paths (HTML first)."""
    return write_html_json(reports_dir / "clock", f"clock_{doc['date']}", doc, render_html(doc), sort_keys=False)
