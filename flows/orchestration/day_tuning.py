"""How the soak and the chaos run bend the demo's day (flows/orchestration/soak.py, chaos.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core_bridge.settings import Settings

FLOW_TIMEOUT_S = 900.0


@dataclass
class DayTuning:
    session_rate: int | None = None  # orders/s of the session (default: from the order count)
    reproducible: bool = False  # the session's events depend only on the seed (demo_day.trade_session)
    flow_attempts: int = 1  # a flow that ends otherwise than expected is rerun (the runbook's `opsctl rerun`)
    flow_timeout_s: float = FLOW_TIMEOUT_S  # a run claimed by a worker that was killed before starting it
    on_services: Callable[[Settings], Any] | None = None  # called once every service of the day is up
