"""Run the control verification against a scratch twin core (its own home and ports, torn down after), and
write the evidence: reports/<date>/compliance/control_verification_<date>.{json,html}.

A scratch core, not the production one: the cases move limits, halts and kill levels to exact boundaries,
which must never happen on the core that trades. The twin runs the same gate code (hw/twin/risk.py) the
inventory names; against a real core the same `run_cases` would take its client.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flows.controls.verification import CASES, VerificationRun, run_cases


def verify_on_scratch_twin(work_dir: Path | None = None) -> VerificationRun:
    from hw.twin.launch import start_twin

    tmp = Path(tempfile.mkdtemp(prefix="control-verification-", dir=work_dir))
    try:
        handle = start_twin(tmp / "twin-home", "primary", ports=None)
        try:
            return run_cases(lambda cmd, args: handle.call(cmd, args, identity="operator"))
        finally:
            handle.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verification_doc(day: dt.date, run: VerificationRun) -> dict[str, Any]:
    return {"date": day.isoformat(), "core": "scratch twin core (hw/twin), gate hw/twin/risk.py",
            "cases": len(CASES), **run.to_dict()}


def write_verification(doc: dict[str, Any], reports_dir: Path) -> list[Path]:
    from reports.compliance import write_verification_report

    return write_verification_report(doc, reports_dir / "compliance")
