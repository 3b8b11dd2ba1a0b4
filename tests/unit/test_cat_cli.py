"""`opsctl cat validate|report`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from flows.opsctl.cat import app
from flows.opsctl.common import Fail
from hw.cat_twin.lifecycles import mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_day

DAY = dt.date(2026, 11, 20)


def test_cli_validate_when_sealed_day_is_clean_then_exit_zero(ops_home: Path) -> None:
    seal_day(mixed_day(DAY, 2), ACCOUNTS_BY_ID, CatConfig(), DAY, ops_home / "reports" / "2026-11-20" / "cat",
             now_ns=2_000_000_000_000_000_000)
    res = CliRunner().invoke(app, ["validate", "--date", "2026-11-20", "--strict"])
    assert res.exit_code == 0, res.output
    assert "44 records, 0 finding(s)" in res.output


def test_cli_report_when_no_report_then_exit_three(ops_home: Path) -> None:
    res = CliRunner().invoke(app, ["report", "--date", "2026-11-20"])
    assert res.exit_code == 1 and isinstance(res.exception, Fail)  # CliRunner bypasses run_app's guard
    assert res.exception.code == 3 and res.exception.kind == "no_report"


def test_cli_validate_when_no_sealed_files_then_fail_unavailable(ops_home: Path) -> None:
    res = CliRunner().invoke(app, ["validate", "--date", "2026-11-20"])
    assert isinstance(res.exception, Fail) and res.exception.code == 3
