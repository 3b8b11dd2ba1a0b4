"""Benchmark reporting: every benchmark prints `name: value unit (ratio vs same-run baseline)` lines and
writes them to var/bench/<bench>.json. Baselines are measured in the same run, never remembered."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # same-run baseline in the same unit
    baseline_name: str = ""
    goal: str = ""  # the goal, in words, e.g. "<= 2x baseline"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        s = f"{self.name}: {self.value:,.3f} {self.unit}"
        if self.ratio is not None:
            s += f" ({self.ratio:.2f}x vs same-run {self.baseline_name or 'baseline'} {self.baseline:,.3f} {self.unit})"
        if self.goal:
            s += f" [goal {self.goal}: {'met' if self.met else 'NOT met' if self.met is not None else '?'}]"
        return s


def emit(bench: str, figures: list[Figure]) -> None:
    for f in figures:
        print(f.line(), flush=True)
    out = Path(os.environ.get("COLO_OPS_HOME", "var")) / "bench"
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "bench": bench,
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    (out / f"{bench}.json").write_text(json.dumps(doc, indent=2))


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]
