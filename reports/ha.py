"""HA drill report: JSON + HTML (with an inline SVG timeline) under COLO_OPS_HOME/reports/<date>/ha/.

Pure writer from drill data to files (no Prefect, no ZeroMQ). Deterministic for the same input: the
charts come from reports.svg, keys are sorted, no wall clock is read here. A drill is evidence (design
principle 7): the report lists every split-brain refusal the audit log holds, with who asked and where.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reports.markdown import table
from reports.render import markup, render
from reports.svg import bar_chart, empty_chart

GOALS_MS = {"accept_ms": 1000.0, "gap_free_ms": 2000.0}  # issue 7: standby accepts <= 1 s, gap-free <= 2 s
ROW_KEYS = ("scenario", "result", "fault_method", "detect_ms", "accept_ms", "gap_free_ms", "lost", "duplicated")
ROW_HEADERS = ("scenario", "result", "fault method", "detect ms", "accept ms", "gap-free ms", "lost", "duplicated")


def report_doc(date: str, drills: Sequence[dict[str, Any]], *, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document: one entry per drill plus a summary (pass/fail, split-brain refusals)."""
    refusals = [r for d in drills for r in d.get("refusals", [])]
    return {
        "date": date,
        "passed": all(d.get("ok") for d in drills),
        "drills": list(drills),
        "goals_ms": GOALS_MS,
        "split_brain_refusals": refusals,
        "summary": summary or {},
    }


def _metric(d: dict[str, Any], key: str) -> float:
    v = d.get("metrics", {}).get(key)
    return float(v) if isinstance(v, int | float) else 0.0


def drill_row(d: dict[str, Any]) -> dict[str, Any]:
    """One drill as a flat row (ROW_KEYS), from a DrillResult.to_dict() (timings under `metrics`, the stream
    check under `checks.stream`); a row already flat (an earlier ops-report.json) passes through."""
    if "metrics" not in d and "checks" not in d and "ok" not in d:
        return {k: d.get(k) for k in ROW_KEYS}
    m = d.get("metrics") or {}
    stream = (d.get("checks") or {}).get("stream") or {}
    return {"scenario": d.get("scenario"), "result": "PASS" if d.get("ok") else "FAIL", "fault_method": _fault(d),
            "detect_ms": m.get("detect_ms"), "accept_ms": m.get("accept_ms"), "gap_free_ms": m.get("gap_free_ms"),
            "lost": stream.get("lost"), "duplicated": stream.get("duplicated")}


def drill_cells(row: dict[str, Any]) -> list[Any]:
    """A flat row's cells in ROW_KEYS order, timings to 0.1 ms, absent values blank."""
    def one(k: str) -> Any:
        v = row.get(k)
        if v is None:
            return ""
        return f"{float(v):.1f}" if k.endswith("_ms") and isinstance(v, int | float) else v

    return [one(k) for k in ROW_KEYS]


def _timeline_svg(d: dict[str, Any]) -> str:
    """One drill's timeline: a bar per event at its ms offset from the fault."""
    events = d.get("timeline") or []
    if not events:
        return empty_chart(f"{d['scenario']}: timeline (ms after the fault)", "no timeline events recorded")
    labels = [f"{i + 1}" for i in range(len(events))]
    return bar_chart(labels, {"ms after the fault": [max(0.0, float(t)) for t, _ in events]},
                     title=f"{d['scenario']}: timeline (ms after the fault)", height=180,
                     empty="every event at the fault itself (0 ms)")


def _fault(d: dict[str, Any]) -> str:
    """The drill's fault method, with the reason when it is a fallback (e.g. sigstop: no network namespaces)."""
    method = str(d.get("fault_method") or "")
    return f"{method} ({d['fault_note']})" if d.get("fault_note") else method


def render_html(doc: dict[str, Any]) -> str:
    drills = doc["drills"]
    names = [f"{i + 1}. {d['scenario']}" for i, d in enumerate(drills)]
    chart = bar_chart(names, {k: [_metric(d, k) for d in drills] for k in ("detect_ms", "accept_ms", "gap_free_ms")},
                      title="Failover timings per drill (ms after the fault)", width=max(640, 90 * len(drills)),
                      empty=f"no drill timings for {doc['date']}")
    rows = []
    for i, d in enumerate(drills):
        m = d.get("metrics", {})
        stream = d.get("checks", {}).get("stream", {})
        rows.append(["" if x is None else str(x) for x in (
            i + 1, d["scenario"], _fault(d), "PASS" if d.get("ok") else "FAIL", m.get("detect_ms"), m.get("accept_ms"),
            m.get("gap_free_ms"), stream.get("journal_events"), stream.get("lost"), stream.get("duplicated"),
            "; ".join(d.get("failures", [])))])
    refusals = [[str(r.get(k)) for k in ("utc", "operator", "identity", "command", "endpoint", "code", "message")]
                for r in doc["split_brain_refusals"]]
    timelines = [{"scenario": d["scenario"], "chart": markup(_timeline_svg(d)),
                  "events": [f"{float(t):.1f} ms — {label}" for t, label in d.get("timeline", [])]} for d in drills]
    summary = json.dumps(doc["summary"], indent=2, sort_keys=True) if doc.get("summary") else ""
    return render("ha.html.j2", title=f"HA drill {doc['date']}", report_name="HA drill", business_date=doc["date"],
                  sources=[], passed=doc["passed"], goals=GOALS_MS, chart=markup(chart), rows=rows,
                  refusals=refusals, timelines=timelines, summary=summary)


def markdown_summary(doc: dict[str, Any]) -> str:
    """For the Prefect markdown artifact: the verdict, the goals, one row per drill, refusals and failures."""
    drills = doc["drills"]
    lines = [f"# HA drill {doc['date']}: {'PASS' if doc['passed'] else 'FAIL'}", "",
             f"Goals: standby accepts commands within {GOALS_MS['accept_ms']:.0f} ms of the fault; journal "
             f"gap-free within {GOALS_MS['gap_free_ms']:.0f} ms.", "",
             table(ROW_HEADERS, [drill_cells(drill_row(d)) for d in drills], "no drills ran"), ""]
    failures = [f"{d['scenario']}: {f}" for d in drills for f in d.get("failures", [])]
    if failures:
        lines += ["**Failures**", "", *(f"- {f}" for f in failures), ""]
    series = doc.get("summary") or {}
    if series:
        stream = (series.get("checks") or {}).get("stream") or {}
        lines += [f"Crash series of {series.get('series')}: {'PASS' if series.get('ok') else 'FAIL'} (lost "
                  f"{stream.get('lost')}, duplicated {stream.get('duplicated')})", ""]
    lines.append(f"Split-brain refusals in the audit log: {len(doc['split_brain_refusals'])}")
    return "\n".join(lines) + "\n"


def write_report(doc: dict[str, Any], reports_dir: Path, stem: str = "ha-drill") -> tuple[Path, Path]:
    """Write <reports_dir>/<stem>.json and .html (reports_dir is COLO_OPS_HOME/reports/<date>/ha)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    jpath, hpath = reports_dir / f"{stem}.json", reports_dir / f"{stem}.html"
    jpath.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    hpath.write_text(render_html(doc))
    return jpath, hpath
