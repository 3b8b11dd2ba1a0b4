"""The demo day's 15c3-5 steps: the controls report, the control verification, and the review pack over the day
(what `opsctl compliance review --from D --to D` writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from core_bridge.settings import Settings


def review_pack(settings: Settings, day: dt.date) -> dict[str, Any]:
    from flows.controls.review import build_review
    from reports.compliance import write_review_pack

    paths = write_review_pack(build_review(settings.home / "reports", settings.home, day, day),
                              settings.reports_dir(day.isoformat()) / "compliance")
    return {"pack": paths[0].name}


COMPLIANCE_PLAN = ("flow:controls-report", "flow:control-verification", "15c3-5 review pack")
COMPLIANCE_DIRS = {"flow:controls-report": "controls", "flow:control-verification": "compliance",
                   "15c3-5 review pack": "compliance"}


def compliance_steps(flow: Callable[..., Any], step: Callable[..., Any], settings: Settings, day: dt.date) -> None:
    """After the day's reports (the pack reads recon's breaks) and before retention, which archives them: the
    controls report, the boundary tests on a scratch twin, the review pack over the day."""
    # The demo simulates a past session: events carry its date, control commands (the audit log) the wall
    # clock's; the report takes the audit day from preopen-check's limits snapshot, so a rerun needs no parameter.
    flow("controls-report")
    flow("control-verification")
    step("15c3-5 review pack", lambda: review_pack(settings, day))
