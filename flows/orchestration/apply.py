"""Apply infra/prefect.yaml to a Prefect server (work pool, tag concurrency limits, deployments with
their cron schedules, automations), and build the in-process deployments `opsctl serve` runs.

Idempotent: applying twice leaves one deployment per flow with the same schedules. Deployments are upserted
(the server's create is an upsert on flow and name), never deleted and re-created: a deployment keeps its id
and its runs, and only the auto-scheduled future runs are replaced by the new schedules'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core_bridge.settings import load_settings
from flows.orchestration.deployments import ROOT, Plan, load_plan


@dataclass
class ApplyResult:
    deployments: list[str] = field(default_factory=list)
    concurrency_limits: dict[str, int] = field(default_factory=dict)
    automations: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # deployments of the plan's pools that the plan lacks
    pruned: list[str] = field(default_factory=list)


async def apply_plan(plan: Plan | None = None, *, alerts_url: str | None = None, prune: bool = False) -> ApplyResult:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.utilities.callables import parameter_schema

    plan = plan or load_plan()
    if alerts_url is None:
        alerts_url = load_settings().get("alerts.webhook_url")
    out = ApplyResult()
    async with get_client() as client:
        pools = {d.work_pool for d in plan.deployments}
        for pool in sorted(pools):
            try:
                await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            except ObjectAlreadyExists:
                pass
        for tag, limit in plan.concurrency_limits.items():
            await client.create_concurrency_limit(tag=tag, concurrency_limit=limit)
            out.concurrency_limits[tag] = limit
        for dep in plan.deployments:
            flow = dep.load_flow()
            flow_id = await client.create_flow_from_name(flow.name)
            schedules = [
                DeploymentScheduleCreate(schedule=CronSchedule(cron=s.cron, timezone=s.timezone), active=True)
                for s in dep.schedules
            ]
            await client.create_deployment(  # an upsert: same id, runs kept, schedules replaced
                flow_id=flow_id,
                name=dep.name,
                description=dep.description,
                entrypoint=dep.entrypoint,
                path=str(ROOT),
                work_pool_name=dep.work_pool,
                tags=list(dep.tags),
                parameters=dep.parameters,
                parameter_openapi_schema=parameter_schema(flow.fn).model_dump_for_openapi(),
                schedules=schedules,
                pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}],
            )
            out.deployments.append(f"{flow.name}/{dep.name}")
        await _extra_deployments(client, plan, pools, out, prune)
        if not alerts_url:
            out.skipped.append("automations: set alerts.webhook_url (COLO_OPS_ALERTS_WEBHOOK_URL) to enable")
        else:
            out.automations = await _apply_automations(plan, alerts_url)
    return out


async def _extra_deployments(client: Any, plan: Plan, pools: set[str], out: ApplyResult, prune: bool) -> None:
    """Deployments in the plan's work pools that the plan no longer names: reported, deleted with --prune."""
    from flows.orchestration.prefect_runs import deployments

    wanted = {d.name for d in plan.deployments}
    for d in await deployments(client._client):
        if d.get("work_pool_name") in pools and d["name"] not in wanted:
            out.extra.append(d["name"])
            if prune:
                await client.delete_deployment(d["id"])
                out.pruned.append(d["name"])


async def _apply_automations(plan: Plan, alerts_url: str) -> list[str]:
    from datetime import timedelta

    from prefect.automations import Automation, EventTrigger, Posture, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name="colo-ops-alerts", url=alerts_url, json_data={"subject": "{{subject}}", "text": "{{body}}"},
        headers={}, cookies={},
    )
    block_id = await block.save("colo-ops-alerts", overwrite=True)
    names = []
    for a in plan.automations:
        try:
            old = await Automation.aread(name=a.name)
            await old.adelete()
        except ValueError:
            pass
        trigger: Any
        if a.kind == "flow_run_state":
            trigger = EventTrigger(
                match={"prefect.resource.id": "prefect.flow-run.*"},
                expect={f"prefect.flow-run.{s}" for s in a.states},
                posture=Posture.Reactive,
                threshold=1,
            )
            body = "Flow run {{ flow_run.name }} of {{ flow.name }} entered {{ flow_run.state.name }}."
        elif a.kind == "not_completed_by":
            trigger = EventTrigger(
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={"prefect.resource.name": a.deployment or "", "prefect.resource.role": "deployment"},
                after={"prefect.flow-run.Pending"},
                expect={"prefect.flow-run.Completed"},
                posture=Posture.Proactive,
                within=timedelta(seconds=a.within_seconds or 3600),
                threshold=1,
            )
            body = f"{a.deployment} has not completed within {a.within_seconds} s of its start."
        else:
            raise ValueError(f"unknown automation kind {a.kind!r} in infra/prefect.yaml")
        auto = Automation(
            name=a.name,
            trigger=trigger,
            actions=[SendNotification(block_document_id=block_id, subject=f"colo-ops: {a.name}", body=body)],
        )
        await auto.acreate()
        names.append(a.name)
    return names


def serve_all(plan: Plan | None = None) -> None:
    """Run every deployment from this process (Prefect's serve): the one-box install and the demo."""
    from prefect import serve
    from prefect.client.schemas.schedules import CronSchedule

    plan = plan or load_plan()
    deployments = []
    for dep in plan.deployments:
        flow = dep.load_flow()
        deployments.append(
            flow.to_deployment(
                name=dep.name,
                schedules=[CronSchedule(cron=s.cron, timezone=s.timezone) for s in dep.schedules],
                tags=list(dep.tags),
                parameters=dep.parameters,
                description=dep.description,
            )
        )
    serve(*deployments)
