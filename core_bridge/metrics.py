"""Cumulative figures folded from the core's health telemetry, for counters and histograms.

The core's `health` message (docs/protocol.md section 9) is a summary for humans: orders per second over the
last interval, gate latency percentiles over the last second. Prometheus wants monotonic counters and
histogram buckets it can rate() and histogram_quantile() itself. `HealthTotals` folds each health message
once, as it arrives (the exporter refreshes once a second and could otherwise see two or none), into such
cumulative figures. Pure Python, no Prometheus import: `TelemetryModel` holds one.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Upper bounds (seconds) of the risk-gate latency histogram: sub-microsecond to 100 ms.
GATE_LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.5e-6, 1e-6, 2.5e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3,
)


def _pick(doc: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if n in doc and doc[n] is not None:
            return doc[n]
    return None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _percentile_points(lat: Mapping[str, Any], scale: float) -> list[tuple[float, float]]:
    """(fraction, value) from {"p50": .., "p99": .., "p999": .., "max": ..}, sorted, values made monotonic."""
    pts: list[tuple[float, float]] = []
    for k, v in lat.items():
        x, key = _number(v), str(k).lower()
        if x is None:
            continue
        if key == "max":
            f = 1.0
        elif key.startswith("p") and key[1:].isdigit():
            f = 1.0 if key[1:] == "100" else float("0." + key[1:])
        else:
            continue
        pts.append((f, x * scale))
    pts.sort()
    out: list[tuple[float, float]] = []
    for f, x in pts:
        out.append((f, max(x, out[-1][1]) if out else x))
    return out


@dataclass
class HealthTotals:
    """Cumulative figures from every health message, each folded once.

    - `orders`: orders accepted by the risk gate. The core's own cumulative count when it sends one
      (`orders_accepted` / `orders_total`), else an estimate: its `orders_per_s` (a rate over the last
      health interval) times the time since the previous health message. None until the first health.
    - gate latency histogram (seconds): the core sends percentiles over the last second, not samples.
      Each window's `samples` are spread over the reported percentiles conservatively: the samples at or
      below p50 are counted at p50, those up to p99 at p99, the rest at max (at least one when max is
      above p99). Bucket counts are therefore never above the truth, and quantiles computed from them
      never below it. A window without `samples` or percentiles adds nothing.
    """

    messages: int = 0
    orders: float | None = None
    orders_estimated: bool = False
    gate_bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(GATE_LATENCY_BUCKETS_S) + 1))
    gate_sum_s: float = 0.0
    gate_count: int = 0
    _last_ref_ns: int | None = None

    def fold(self, doc: Mapping[str, Any], at_ns: int) -> None:
        self.messages += 1
        sent = _pick(doc, "core_time_ns", "ts_ns")
        ref = int(sent) if isinstance(sent, int) and not isinstance(sent, bool) else at_ns
        self._fold_orders(doc, ref)
        self._last_ref_ns = ref
        lat = _pick(doc, "gate_latency_ns", "latency_ns")
        if isinstance(lat, Mapping):
            self._fold_latency(lat, 1e-9)

    def _fold_orders(self, doc: Mapping[str, Any], ref_ns: int) -> None:
        total = _pick(doc, "orders_accepted", "orders_total")
        if isinstance(total, int) and not isinstance(total, bool):
            self.orders, self.orders_estimated = float(total), False
            return
        rate = _number(_pick(doc, "orders_per_s", "orders_per_sec", "order_rate"))
        if rate is None:
            return
        self.orders_estimated = True
        if self.orders is None or self._last_ref_ns is None:
            self.orders = 0.0  # the first message's interval is unknown: count from here
            return
        self.orders += max(0.0, rate) * max(0, ref_ns - self._last_ref_ns) / 1e9

    def _fold_latency(self, lat: Mapping[str, Any], scale: float) -> None:
        n = lat.get("samples")
        pts = _percentile_points(lat, scale)
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0 or not pts:
            return
        below = 0
        top = pts[-1]
        for f, x in pts:
            upto = n if f >= 1.0 else min(n, int(f * n) + 1)
            if f < 1.0 and top[0] >= 1.0 and top[1] > x:
                upto = min(upto, n - 1)  # the max is a real sample above this percentile
            if upto > below:
                self._observe(x, upto - below)
                below = upto
        if below < n:  # no max reported: the tail is only known to be above the highest percentile
            self.gate_bucket_counts[-1] += n - below
            self.gate_count += n - below
            self.gate_sum_s += (n - below) * pts[-1][1]

    def _observe(self, value_s: float, count: int) -> None:
        self.gate_bucket_counts[bisect_left(GATE_LATENCY_BUCKETS_S, value_s)] += count
        self.gate_count += count
        self.gate_sum_s += value_s * count

    def gate_buckets(self) -> list[tuple[float, int]]:
        """Cumulative (upper bound, count) pairs, +Inf last, as a Prometheus histogram has them."""
        out, acc = [], 0
        for le, c in zip((*GATE_LATENCY_BUCKETS_S, float("inf")), self.gate_bucket_counts, strict=True):
            acc += c
            out.append((le, acc))
        return out
