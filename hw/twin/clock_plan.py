"""The twin's PTP clock: the offset from the grandmaster that its heartbeats report, per a seeded plan.

A real core's PTP daemon reports the offset of its clock from the grandmaster (itself traceable to NIST).
The twin has no PTP, so it models one: a slow wander through knots every `KNOT_S` seconds, each drawn from
the plan's seed and the business date, so the same date and seed give the same offsets, second by second,
on every run. A plan with `breach` adds one excursion past the house tolerance (the demo's: the clock log,
the report and the alert must all show it) and then recovers.

`COLO_OPS_TWIN_CLOCK_PLAN=<seed>[:breach[@<start s>]]` selects the plan (default seed 0, no breach; the
excursion starts at a seeded second in BREACH_START_S unless `@` pins it, as tests do). Time in the plan is
seconds since the twin started; a real core has no such setting.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

ENV = "COLO_OPS_TWIN_CLOCK_PLAN"
CLOCK_SOURCE = "ptp"  # heartbeat `clock_source`: the offset is the core clock minus the PTP grandmaster's
KNOT_S = 30
WANDER_NS = 30_000  # the knots stay within ±30 µs: well inside the house tolerance (100 µs)
BREACH_PEAK_NS = 250_000  # 2.5x the house tolerance; far inside CAT's 50 ms
BREACH_START_S = (20, 30)  # the excursion starts in this window (seeded) ...
BREACH_LENGTH_S = 3  # ... and lasts this long


@dataclass(frozen=True)
class ClockPlan:
    seed: int = 0
    date: str = ""
    breach: bool = False
    breach_start_s: int | None = None  # None: seeded within BREACH_START_S

    @classmethod
    def from_env(cls, date: str = "", env: dict[str, str] | None = None) -> ClockPlan:
        value = (env if env is not None else os.environ).get(ENV, "").strip()
        if not value:
            return cls(date=date)
        seed, _, flag = value.partition(":")
        flag, _, start = flag.partition("@")
        if not seed.isdigit() or flag not in ("", "breach") or (start and not start.isdigit()):
            raise ValueError(f"{ENV}={value!r}: expected <seed>, <seed>:breach or <seed>:breach@<start s>")
        return cls(int(seed), date, flag == "breach", int(start) if start else None)

    def _knot(self, k: int) -> int:
        rng = random.Random(f"{self.date}:{self.seed}:{k}")  # noqa: S311 - a simulation, not security
        return rng.randint(-WANDER_NS, WANDER_NS)

    def breach_window_s(self) -> tuple[float, float] | None:
        if not self.breach:
            return None
        start = self.breach_start_s
        if start is None:
            rng = random.Random(f"{self.date}:{self.seed}:breach")  # noqa: S311 - a simulation, not security
            start = rng.randint(*BREACH_START_S)
        return float(start), float(start + BREACH_LENGTH_S)

    def offset_ns(self, elapsed_s: float) -> int:
        """The offset (signed ns) `elapsed_s` seconds after the twin started."""
        t = max(0.0, elapsed_s)
        k = int(t // KNOT_S)
        frac = (t - k * KNOT_S) / KNOT_S
        a, b = self._knot(k), self._knot(k + 1)
        off = round(a + (b - a) * frac)
        window = self.breach_window_s()
        if window is not None and window[0] <= t < window[1]:
            return BREACH_PEAK_NS if off >= 0 else -BREACH_PEAK_NS
        return off
