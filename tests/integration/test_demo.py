"""The main job end to end with a small day: every flow Completed and every report written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

DAY = dt.date(2026, 11, 20)


@pytest.mark.usefixtures("prefect_harness")
def test_demo_when_small_day_then_every_flow_completes_and_every_report_exists(ops_home: Path) -> None:
    from flows.orchestration.demo_day import run_demo, stop_all

    try:
        result = run_demo(DAY, n_orders=100, seed=7)
    finally:
        stop_all(prefect=False)
    failed = [(s.name, s.state, s.detail) for s in result.steps if s.state not in ("Completed", "skipped")]
    assert failed == []
    flows = {s.name for s in result.steps if s.name.startswith("flow:") and s.state == "Completed"}
    assert {"flow:sod-load", "flow:locates", "flow:bp-refresh", "flow:preopen-check", "flow:eod-capture",
            "flow:regsho-report", "flow:recon", "flow:cat", "flow:retention", "flow:ops-report"} <= flows
    rep = ops_home / "reports" / DAY.isoformat()
    for path in ("ops-report.html", "cat_report.json", "recon/recon.html", "recon/breaks.csv",
                 "regsho/regsho_2026-11-20.json"):
        assert (rep / path).is_file(), path
    assert list((rep / "cat").glob("*_OrderEvents_*.json.bz2"))
    assert list((rep / "retention").glob("attestation-*.json"))
    # What `opsctl status --json` shows: every flow run of the day, read back from the Prefect server.
    import asyncio

    from flows.orchestration.prefect_runs import day_runs

    runs = asyncio.run(day_runs(DAY.isoformat()))
    assert {r["flow"] for r in runs} >= {f.removeprefix("flow:") for f in flows}
    assert all(r["state"] == "Completed" for r in runs), [(r["flow"], r["state"]) for r in runs]
    html = (rep / "ops-report.html").read_text()
    assert "ORDER_NEW" in html and "<svg" in html
