"""Does a sampled quantity grow without bound? The test a soak applies to every process's RSS, open file
descriptors, threads and CPU.

Why not a plain least-squares slope: a process that warms a cache or opens its pool once steps up and stays
there, and the first half of a day (imports, the session starting) is all such steps. So only the second
half counts, and growth must show twice: the robust (Theil–Sen, median of pairwise) slope over the second
half, projected over that half, exceeds the tolerance, **and** the last quarter's median is above the third
quarter's by at least half the tolerance. A bounded step passes the first at most; a leak passes both.

The tolerance of a metric is `max(absolute, relative × median level of the second half)` (TOLERANCES).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# metric -> (absolute tolerance in the metric's unit, relative tolerance of its level)
TOLERANCES: dict[str, tuple[float, float]] = {
    "rss_mib": (16.0, 0.10),  # 16 MiB or 10 % of the resident set over the second half
    "fds": (8.0, 0.10),
    "threads": (4.0, 0.10),
    "cpu_pct": (20.0, 0.0),  # a loop that spins up: +20 percentage points
}
MIN_POINTS = 8  # fewer samples in the second half: no verdict ("too few samples" is reported, not passed)


@dataclass(frozen=True)
class Growth:
    metric: str
    points: int
    slope_per_h: float  # Theil–Sen slope over the second half, metric units per hour
    growth: float  # slope × duration of the second half
    quarter_rise: float  # median(last quarter) − median(third quarter)
    tolerance: float
    level: float  # median of the second half
    verdict: str  # "ok", "grows", "too few samples"

    @property
    def failed(self) -> bool:
        return self.verdict == "grows"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def theil_sen(ts: Sequence[float], ys: Sequence[float]) -> float:
    """Median of the pairwise slopes (pairs with equal t skipped); 0 for fewer than two distinct times."""
    slopes = [(ys[j] - ys[i]) / (ts[j] - ts[i]) for i in range(len(ts)) for j in range(i + 1, len(ts))
              if ts[j] != ts[i]]
    return statistics.median(slopes) if slopes else 0.0


def _thin(ts: Sequence[float], ys: Sequence[float], limit: int = 240) -> tuple[list[float], list[float]]:
    """At most `limit` evenly spaced points: the pairwise slope is quadratic in the points."""
    step = max(1, -(-len(ts) // limit))
    return list(ts[::step]), list(ys[::step])


def tolerance(metric: str, level: float) -> float:
    absolute, relative = TOLERANCES.get(metric, (0.0, 0.10))
    return max(absolute, relative * abs(level))


def growth_test(metric: str, ts_s: Sequence[float], ys: Sequence[float]) -> Growth:
    """The verdict on one series (times in seconds, ascending)."""
    if len(ts_s) != len(ys):
        raise ValueError(f"{metric}: {len(ts_s)} times but {len(ys)} values")
    if not ts_s:
        return Growth(metric, 0, 0.0, 0.0, 0.0, tolerance(metric, 0.0), 0.0, "too few samples")
    mid = ts_s[0] + (ts_s[-1] - ts_s[0]) / 2
    half = [(t, y) for t, y in zip(ts_s, ys, strict=True) if t >= mid]
    t2, y2 = [t for t, _ in half], [float(y) for _, y in half]
    level = statistics.median(y2) if y2 else 0.0
    tol = tolerance(metric, level)
    if len(half) < MIN_POINTS:
        return Growth(metric, len(half), 0.0, 0.0, 0.0, tol, level, "too few samples")
    slope = theil_sen(*_thin(t2, y2))
    span = t2[-1] - t2[0]
    q = len(y2) // 2
    rise = statistics.median(y2[q:]) - statistics.median(y2[:q])
    grows = slope * span > tol and rise >= tol / 2
    return Growth(metric, len(half), slope * 3600, slope * span, rise, tol, level, "grows" if grows else "ok")
