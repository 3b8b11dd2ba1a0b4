"""Retry budgets: every retry loop of a long day reports its counters, and a soak fails when one spent more
than its budget (the defect a 40-minute demo found: the capture asking ~7,800 times for a seq the core never
produced, and never saying so).

Where the counters come from: the capture's rewind backoff in `run/capture.json` (`rewind.failures_total`,
`rewind.escalations`, `rewind.state`) and the exporter's `colo_core_capture_rewind_failures_total` (the two
must agree); the risk watcher's core probes in `run/riskwatch.json`; each supervisor's restarts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

# counter -> most it may reach over a soak without faults (a chaos run sets its own)
SOAK_BUDGETS: dict[str, float] = {
    "capture.rewind.failures_total": 20,  # a handful around the session's start and end
    "capture.rewind.escalations": 0,
    "capture.rewind.escalated_at_end": 0,
    "exporter.colo_core_capture_rewind_failures_total": 20,
    "riskwatch.core_outages": 2,
    "supervisor.restarts": 0,  # nothing dies by itself in a soak
}


@dataclass(frozen=True)
class Overrun:
    counter: str
    value: float | None  # None: the counter could not be read at all
    budget: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.value is None:
            return f"{self.counter}: not reported (budget {self.budget:g})"
        return f"{self.counter}: {self.value:g} > budget {self.budget:g}"


def check(observed: Mapping[str, float | None], budgets: Mapping[str, float]) -> list[Overrun]:
    """Every budgeted counter that is over its budget or missing (a counter nobody reports is no proof)."""
    out = []
    for name, budget in sorted(budgets.items()):
        value = observed.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)) or value > budget:
            out.append(Overrun(name, value, budget))
    return out


def capture_counters(status: Mapping[str, Any]) -> dict[str, float | None]:
    """The capture's rewind counters from its capture.json document."""
    rw = status.get("rewind") if isinstance(status.get("rewind"), dict) else None
    if rw is None:
        return {"capture.rewind.failures_total": None, "capture.rewind.escalations": None,
                "capture.rewind.escalated_at_end": None}
    return {"capture.rewind.failures_total": _num(rw.get("failures_total")),
            "capture.rewind.escalations": _num(rw.get("escalations")),
            "capture.rewind.escalated_at_end": 1.0 if rw.get("state") == "escalated" else 0.0}


def prom_value(text: str, metric: str) -> float | None:
    """The value of `metric` in Prometheus text exposition, summed over its label sets; None when absent."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, rest = line.partition("{") if "{" in line.split(" ", 1)[0] else line.partition(" ")
        if name != metric:
            continue
        value = rest.rsplit("}", 1)[-1] if "}" in rest else rest
        try:
            total += float(value.split()[0])
            seen = True
        except (ValueError, IndexError):
            return None
    return total if seen else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
