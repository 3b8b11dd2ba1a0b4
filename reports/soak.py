"""The soak and chaos report: one HTML page (an SVG chart per process: RSS, file descriptors, threads, CPU
over the run) and the same facts as JSON, under var/reports/soak/.

Input is plain data (the run's document: verdicts, samples, budgets, log findings, kills); nothing is read
from a clock or the disk here, so the same document renders the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reports.render import markup, render
from reports.svg import line_chart

METRICS = (("rss_mib", "RSS (MiB)"), ("fds", "open fds"), ("threads", "threads"), ("cpu_pct", "CPU %"))


def process_chart(name: str, samples: Sequence[Mapping[str, Any]]) -> str:
    """RSS, fds, threads and CPU of one process over the run; a restart shows as the pid changing."""
    mine = [s for s in samples if s["name"] == name]
    xs = [float(s["t_s"]) / 60 for s in mine]
    series: dict[str, Sequence[float]] = {label: [float(s[m]) for s in mine] for m, label in METRICS}
    pids = sorted({int(s["pid"]) for s in mine})
    title = f"{name} (pid {', '.join(map(str, pids))})" if pids else name
    return line_chart(xs, series, title=title, x_label="min", empty=f"no samples of {name}", width=720)


def _rows(doc: Mapping[str, Any]) -> dict[str, tuple[list[str], list[list[Any]], str]]:
    growth = [[p, g["metric"], f"{g['level']:.1f}", f"{g['slope_per_h']:+.2f}", f"{g['growth']:+.2f}",
               f"{g['quarter_rise']:+.2f}", f"{g['tolerance']:.1f}", g["verdict"]]
              for p, gs in sorted(doc.get("growth", {}).items()) for g in gs]
    budgets = [[b["counter"], "—" if b["value"] is None else f"{b['value']:g}", f"{b['budget']:g}",
                "OVER" if b.get("over") else "ok"] for b in doc.get("budgets", [])]
    logs = [[f["file"], f["line"], f["exception"], f["message"], "expected (seeded)" if f["expected"] else "DEFECT"]
            for f in doc.get("tracebacks", [])]
    kills = [[k["n"], f"{k['at_s']:.1f}", k["target"], k["pid"], "—" if k.get("recovery_s") is None
              else f"{k['recovery_s']:.2f}", k.get("note", "")] for k in doc.get("kills", [])]
    diffs = [[d["what"], d["detail"]] for d in doc.get("differences", [])]
    steps = [[s["name"], s["state"], f"{s['seconds']:.1f}", s["detail"]] for s in doc.get("steps", [])]
    return {
        "Growth over the second half (slope test)": (
            ["process", "metric", "level", "slope /h", "growth", "Q4−Q3", "tolerance", "verdict"], growth,
            "no samples"),
        "Retry budgets": (["counter", "value", "budget", "verdict"], budgets, "no budgets checked"),
        "Unhandled exceptions in logs": (["log", "line", "exception", "message", "verdict"], logs,
                                         "no traceback in any log"),
        "Kills (kill -9) and recovery": (["#", "at s", "process", "pid", "recovery s", "note"], kills,
                                         "no kills in this run"),
        "Differences against the same-seed run without faults": (["what", "detail"], diffs,
                                                                  "none: every output identical"),
        "The day's steps": (["step", "state", "s", "detail"], steps, "no steps recorded"),
    }


def render_html(doc: Mapping[str, Any]) -> str:
    charts = [markup(process_chart(name, doc.get("samples", []))) for name in doc.get("processes", [])]
    return render("soak.html.j2", title=f"colo-ops {doc['kind']} {doc['date']}", report_name=f"colo-ops {doc['kind']}",
                  business_date=doc["date"], sources=[], subtitle=doc.get("summary", ""), doc=doc, charts=charts,
                  tables=_rows(doc))


def write(doc: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """`<kind>.html` and `<kind>.json` in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html, js = out_dir / f"{doc['kind']}.html", out_dir / f"{doc['kind']}.json"
    html.write_text(render_html(doc))
    js.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    return html, js
