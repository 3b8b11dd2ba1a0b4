"""infra/prefect.yaml is the schedule of the day: it must parse and say what the design says."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.orchestration.deployments import ROOT, load_plan

DAY = [
    "sod-load", "regsho-closeout", "locates", "bp-refresh", "intraday-recon", "preopen-check", "eod-capture",
    "clock-report",
    "regsho-report",
    "controls-report", "recon", "cat", "ops-report", "cat-feedback", "retention", "ha-drill", "control-verification",
]


def test_plan_when_loaded_then_has_one_deployment_per_flow_of_the_day() -> None:
    plan = load_plan()
    assert [d.name for d in plan.deployments] == DAY


@pytest.mark.parametrize("name", DAY)
def test_deployment_when_loaded_then_cron_in_new_york_and_entrypoint_file_exists(name: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule

    dep = load_plan().get(name)
    assert dep.schedules, name
    for s in dep.schedules:
        assert s.timezone == "America/New_York"
        CronSchedule(cron=s.cron, timezone=s.timezone)  # raises on a bad cron
    path, func = dep.entrypoint.split(":")
    assert (Path(ROOT) / path).is_file(), dep.entrypoint
    assert func.isidentifier()


def test_plan_when_loaded_then_core_control_is_serialised() -> None:
    plan = load_plan()
    assert plan.concurrency_limits["core-control"] == 1
    touching_core = {"sod-load", "regsho-closeout", "locates", "bp-refresh", "preopen-check", "ha-drill"}
    for d in plan.deployments:
        assert ("core-control" in d.tags) == (d.name in touching_core), d.name
