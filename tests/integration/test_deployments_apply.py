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


@pytest.mark.usefixtures("prefect_harness")
def test_apply_when_run_again_then_deployments_keep_their_id_and_their_pending_runs() -> None:
    """`opsctl deploy` is an upsert: a run waiting on a deployment survives a re-apply (it used to be deleted
    with the deployment)."""
    import datetime as dt

    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from flows.orchestration.apply import apply_plan

    plan = load_plan()
    asyncio.run(apply_plan(plan, alerts_url=""))

    async def pending_run() -> tuple[str, str]:
        async with get_client() as client:
            dep = await client.read_deployment_by_name("recon/recon")
            later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)
            run = await client.create_flow_run_from_deployment(
                dep.id, parameters={"date": "2026-12-04"}, state=Scheduled(scheduled_time=later))
            return str(dep.id), str(run.id)

    dep_id, run_id = asyncio.run(pending_run())
    res = asyncio.run(apply_plan(plan, alerts_url=""))
    assert "recon/recon" in res.deployments and res.extra == []

    async def read_back() -> tuple[str, str | None, str]:
        async with get_client() as client:
            dep = await client.read_deployment_by_name("recon/recon")
            run = await client.read_flow_run(run_id)  # raises ObjectNotFound if the re-apply dropped it
            return str(dep.id), str(run.deployment_id) if run.deployment_id else None, run.state_name or ""

    again_id, run_dep, state = asyncio.run(read_back())
    assert again_id == dep_id
    assert run_dep == dep_id and state == "Scheduled"


@pytest.mark.usefixtures("prefect_harness")
def test_apply_when_a_deployment_left_the_file_then_it_is_reported_and_pruned_only_on_request() -> None:
    from dataclasses import replace

    from prefect.client.orchestration import get_client

    from flows.orchestration.apply import apply_plan

    plan = load_plan()
    asyncio.run(apply_plan(plan, alerts_url=""))
    smaller = replace(plan, deployments=tuple(d for d in plan.deployments if d.name != "locates"))
    kept = asyncio.run(apply_plan(smaller, alerts_url=""))
    assert kept.extra == ["locates"] and kept.pruned == []
    pruned = asyncio.run(apply_plan(smaller, alerts_url="", prune=True))
    assert pruned.pruned == ["locates"]

    async def names() -> set[str]:
        from flows.orchestration.prefect_runs import deployments

        async with get_client() as client:
            return {d["name"] for d in await deployments(client._client)}

    assert "locates" not in asyncio.run(names())
    asyncio.run(apply_plan(plan, alerts_url=""))  # leave the harness as the file says
