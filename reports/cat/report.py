"""The daily CAT report: what we sent, what CAT said, what is still owed. Markdown + JSON, deterministic."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.cat.deadlines import ns_to_ny
from reports.cat.feedback import FeedbackError


@dataclass
class CatDayReport:
    date: str
    counts: dict[str, int]
    submissions: list[dict[str, Any]] = field(default_factory=list)  # {metas, files, records, kind, late...}
    errors: list[FeedbackError] = field(default_factory=list)
    repaired: set[int] = field(default_factory=set)  # errorROEIDs an RPR was sealed for
    deadline_ns: int | None = None
    repair_deadline_ns: int | None = None

    def to_dict(self) -> dict[str, Any]:
        by_code = Counter(c for e in self.errors for c in e.codes)
        by_cause = Counter(e.root_cause for e in self.errors)
        outstanding = sorted(e.error_roe_id for e in self.errors if e.error_roe_id not in self.repaired)
        return {
            "date": self.date,
            "counts_by_event": dict(sorted(self.counts.items())),
            "records": sum(self.counts.values()),
            "submissions": self.submissions,
            "errors_by_code": dict(sorted(by_code.items())),
            "errors_by_root_cause": dict(sorted(by_cause.items())),
            "errors": len(self.errors),
            "repairs_sealed": len(self.repaired),
            "repairs_outstanding": outstanding,
            "deadline_et": ns_to_ny(self.deadline_ns) if self.deadline_ns else None,
            "repair_deadline_et": ns_to_ny(self.repair_deadline_ns) if self.repair_deadline_ns else None,
            "late_submissions": [s["metas"] for s in self.submissions if s.get("late")],
            "forbidden_events": {k: v for k, v in self.counts.items() if k in ("MEOT", "MEOF", "MEOA")},
        }

    def to_markdown(self) -> str:
        d = self.to_dict()
        lines = [f"# CAT order events — {self.date}", ""]
        lines += [f"Due {d['deadline_et']}; repairs due {d['repair_deadline_et']}.", ""]
        lines += ["| event | records |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in d["counts_by_event"].items()]
        lines += [f"| **total** | **{d['records']}** |", ""]
        lines += ["## Submissions", "", "| kind | metadata | files | records | submitted (ET) | late |",
                  "|---|---|---:|---:|---|---|"]
        for s in self.submissions:
            lines.append(f"| {s.get('kind', '')} | {', '.join(s.get('metas', []))} | {len(s.get('files', []))} | "
                         f"{s.get('records', 0)} | {s.get('submitted_et') or 'not yet'} | "
                         f"{'**LATE**' if s.get('late') else 'no'} |")
        lines += ["", "## Feedback errors", "", "| code | count |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in d["errors_by_code"].items()] or ["| none | 0 |"]
        lines += ["", "| root cause | count |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in d["errors_by_root_cause"].items()] or ["| none | 0 |"]
        lines += ["", f"Repairs sealed: {d['repairs_sealed']}; outstanding: {len(d['repairs_outstanding'])}"
                  + (f" (errorROEIDs {', '.join(map(str, d['repairs_outstanding'][:20]))})"
                     if d["repairs_outstanding"] else ""), ""]
        return "\n".join(lines)


def write_report(report: CatDayReport, out_dir: Path) -> tuple[Path, Path]:
    """reports/<date>/cat_report.{md,json}: rewritten as feedback arrives (the CAT files themselves never are)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "cat_report.md", out_dir / "cat_report.json"
    md.write_text(report.to_markdown())
    js.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n")
    return md, js
