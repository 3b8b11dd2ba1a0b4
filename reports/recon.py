"""The reconciliation report for one business date: HTML (summary, breaks by type and age, a chart of break
counts over recent days) and a CSV of the breaks, under reports/<date>/recon/.

Pure: a `ReconReport` in, bytes out; the same input gives the same bytes (no "generated at" stamps, rows in a
fixed order), so a re-run of a date rewrites identical files. Gathering the data lives in flows/jobs/recon.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.render import markup, render
from reports.svg import bar_chart

CSV_COLUMNS = (
    "break_id", "btype", "status", "first_seen", "age_days", "account", "symbol", "cusip", "exec_id",
    "internal_qty", "clearing_qty", "core_qty", "internal_price", "clearing_price", "detail", "resolution",
    "resolved_on", "signoff_by", "signoff_at", "signoff_note",
)
AGE_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2-5", 2, 5), (">5", 6, 10**9))
OPEN = ("OPEN", "CARRIED")


@dataclass
class ReconReport:
    date: str
    stats: dict[str, int]
    breaks: list[dict[str, Any]]  # CSV_COLUMNS keys: open as of `date`, plus those closed on `date`
    history: list[tuple[str, int, int]] = field(default_factory=list)  # (date, open at end of run, first seen)
    sources: dict[str, str] = field(default_factory=dict)  # name -> what was read (file name / sha256 prefix)

    @property
    def open_breaks(self) -> list[dict[str, Any]]:
        return [b for b in self.breaks if b["status"] in OPEN]


def _sorted(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda b: (str(b["btype"]), str(b["first_seen"]), str(b["break_id"])))


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def render_csv(report: ReconReport) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for b in _sorted(report.breaks):
        w.writerow([_cell(b.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue().encode("utf-8")


def by_type_and_age(breaks: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Open breaks per type, counted in AGE_BUCKETS (business days)."""
    out: dict[str, list[int]] = {}
    for b in breaks:
        if b["status"] not in OPEN:
            continue
        counts = out.setdefault(str(b["btype"]), [0] * len(AGE_BUCKETS))
        age = int(b["age_days"] or 0)
        for i, (_, lo, hi) in enumerate(AGE_BUCKETS):
            if lo <= age <= hi:
                counts[i] += 1
    return dict(sorted(out.items()))


def render_html(report: ReconReport) -> str:
    open_rows = _sorted(report.open_breaks)
    closed = _sorted([b for b in report.breaks if b["status"] not in OPEN])
    status = "CLEAN" if not open_rows else f"{len(open_rows)} OPEN BREAK(S)"
    summary = [[k, v] for k, v in sorted(report.stats.items())]
    ages = by_type_and_age(report.breaks)
    age_rows = [[t, *c, sum(c)] for t, c in ages.items()]
    hist = report.history
    chart = bar_chart(
        [d[5:] for d, _, _ in hist],
        {"open at end of run": [o for _, o, _ in hist], "first seen that day": [n for _, _, n in hist]},
        title="Breaks over recent days",
        empty=(f"no breaks from {hist[0][0]} to {hist[-1][0]}" if len(hist) > 1 else f"no breaks on {hist[0][0]}")
        if hist else f"no recon runs up to {report.date}",
    )
    cols = ("break_id", "btype", "status", "first_seen", "age_days", "account", "symbol", "exec_id",
            "internal_qty", "clearing_qty", "core_qty", "detail")
    closed_cols = ("break_id", "btype", "status", "first_seen", "account", "symbol", "resolution", "signoff_by",
                   "signoff_at", "signoff_note")
    src = [[k, v] for k, v in sorted(report.sources.items())]

    def cells(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
        return [[_cell(c) for c in r] for r in rows]

    tables = {
        "Summary": (["figure", "value"], cells(summary), "none"),
        "Sources": (["source", "read"], cells(src), "none"),
        "Open breaks by type and age (business days)": (["type", *(b[0] for b in AGE_BUCKETS), "total"],
                                                         cells(age_rows), "no open breaks"),
    }
    lists = {
        "Open breaks": (list(cols), cells([[b.get(c) for c in cols] for b in open_rows]), "no open breaks"),
        "Closed on this date": (list(closed_cols), cells([[b.get(c) for c in closed_cols] for b in closed]), "none"),
    }
    return render("recon.html.j2", title=f"Reconciliation {report.date}", report_name="Reconciliation",
                  business_date=report.date, sources=[], status=status, tables=tables, lists=lists,
                  chart=markup(chart))


def write_report(report: ReconReport, out_dir: Path) -> dict[str, Path]:
    """Write recon.html and breaks.csv into `out_dir` (reports/<date>/recon/); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / "recon.html", "csv": out_dir / "breaks.csv"}
    for key, data in (("html", render_html(report).encode("utf-8")), ("csv", render_csv(report))):
        tmp = paths[key].with_name(f".{paths[key].name}.part")
        tmp.write_bytes(data)
        tmp.replace(paths[key])
    return paths


def markdown_summary(report: ReconReport, new_breaks: int) -> str:
    """For the Prefect markdown artifact (not written to disk: `new_breaks` depends on the run)."""
    lines = [f"# Reconciliation {report.date}", "", f"- open breaks: {len(report.open_breaks)}",
             f"- new in this run: {new_breaks}"]
    lines += [f"- {k}: {v}" for k, v in sorted(report.stats.items())]
    ages = by_type_and_age(report.breaks)
    if ages:
        lines += ["", "| type | " + " | ".join(b[0] for b in AGE_BUCKETS) + " | total |",
                  "|---|" + "---|" * (len(AGE_BUCKETS) + 1)]
        lines += [f"| {t} | " + " | ".join(str(x) for x in c) + f" | {sum(c)} |" for t, c in ages.items()]
    else:
        lines += ["", "No open breaks."]
    return "\n".join(lines) + "\n"
