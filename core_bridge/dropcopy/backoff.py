"""How the capture retries a rewind that failed: exponential backoff, bounded, and an escalation.

Why: a rewind that keeps failing (the core does not answer, a gap it cannot fill, a node that is behind)
must not be asked again at the loop's rate forever. Each consecutive failure doubles the wait before the
next attempt, up to `max_s`; after `escalate_after` of them the state becomes "escalated": one ERROR log
line (not one per retry), `rewind.state` in capture.json and `colo_core_capture_rewind_escalated` for the
exporter, so a person is told. The first success clears it (one INFO line).

    state        meaning
    ok           the last rewind attempt succeeded (or none failed yet)
    backing_off  1 .. escalate_after-1 consecutive failures; the next attempt waits `delay_s`
    escalated    escalate_after or more; still retried, at most every `max_s`
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

OK, BACKING_OFF, ESCALATED = "ok", "backing_off", "escalated"


class RewindBackoff:
    """Consecutive rewind failures, the wait before the next attempt, and the escalation state."""

    def __init__(self, base_s: float, max_s: float, escalate_after: int, what: str = "rewind") -> None:
        self.what = what  # what is retried, as the log lines name it
        self.base_s = max(0.001, base_s)
        self.max_s = max(self.base_s, max_s)
        self.escalate_after = max(1, escalate_after)
        self.state = OK
        self.consecutive = 0
        self.failures_total = 0
        self.escalations = 0
        self.delay_s = 0.0
        self.last_error = ""
        self._retry_at = 0.0

    def ready(self, now: float | None = None) -> bool:
        """True when an attempt may be made now (no failure pending, or its wait has passed)."""
        return (time.monotonic() if now is None else now) >= self._retry_at

    def failed(self, error: str, now: float | None = None) -> None:
        """Count a failed attempt and schedule the next one; escalate (and log once) at the threshold."""
        now = time.monotonic() if now is None else now
        self.consecutive += 1
        self.failures_total += 1
        self.last_error = error
        self.delay_s = min(self.max_s, self.base_s * 2 ** (self.consecutive - 1))
        self._retry_at = now + self.delay_s
        if self.consecutive >= self.escalate_after:
            if self.state != ESCALATED:
                self.escalations += 1
                log.error("capture: %s failed %d times in a row, escalated (retrying every %.1f s at most): %s",
                          self.what, self.consecutive, self.max_s, error)
            self.state = ESCALATED
        else:
            self.state = BACKING_OFF

    def succeeded(self) -> None:
        """An attempt succeeded: back to "ok" at once."""
        if self.state == ESCALATED:
            log.info("capture: %s recovered after %d consecutive failures", self.what, self.consecutive)
        self.state = OK
        self.consecutive = 0
        self.delay_s = 0.0
        self._retry_at = 0.0

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        return {"state": self.state, "consecutive_failures": self.consecutive, "failures_total": self.failures_total,
                "escalations": self.escalations, "delay_s": round(self.delay_s, 3),
                "retry_in_s": round(max(0.0, self._retry_at - now), 3), "last_error": self.last_error}
