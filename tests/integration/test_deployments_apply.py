"""Apply infra/prefect.yaml to a real Prefect server and read it back through the client API."""

from __future__ import annotations

import asyncio

import pytest

from flows.orchestration.deployments import load_plan


@pytest.mark.usefixtures("prefect_harness")
def test_apply_when_run_twice_then_every_deployment_exists_once_with_its_cron_and_timezone() -> None:
    from prefect.client.orchestration import get_client

    from flows.orchestration.apply import apply_plan

    plan = load_plan()
    asyncio.run(apply_plan(plan, alerts_url="http://127.0.0.1:9/alerts"))
    res = asyncio.run(apply_plan(plan, alerts_url="http://127.0.0.1:9/alerts"))
    assert len(res.deployments) == len(plan.deployments)
    assert sorted(res.automations) == sorted(a.name for a in plan.automations)

    async def read() -> dict[str, object]:
        async with get_client() as client:
            out = {}
            for dep in plan.deployments:
                flow = dep.load_flow()  # the entrypoint imports
                assert flow.name == dep.name, "flows are named like their deployment"
                d = await client.read_deployment_by_name(f"{flow.name}/{dep.name}")
                out[dep.name] = d
            limits = {c.tag: c.concurrency_limit for c in await client.read_concurrency_limits(limit=50, offset=0)}
            out["_limits"] = limits
            return out

    got = asyncio.run(read())
    for dep in plan.deployments:
        d = got[dep.name]
        crons = sorted((s.schedule.cron, s.schedule.timezone) for s in d.schedules)  # type: ignore[attr-defined]
        assert crons == sorted((s.cron, s.timezone) for s in dep.schedules), dep.name
        assert d.entrypoint == dep.entrypoint  # type: ignore[attr-defined]
        assert d.work_pool_name == "ops"  # type: ignore[attr-defined]
    assert got["_limits"] == plan.concurrency_limits
