"""What the Prefect server knows about runs: the day's flow runs with their artifacts, the latest state per
flow, and tagging the current run. Plain REST filters: Prefect 3.8.8's client helpers send null sub-filters
its own server rejects (422)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any


async def day_runs(day: str) -> list[dict[str, Any]]:
    """Every flow run whose `date` parameter is `day`, with its artifacts (newest first).

    Plain REST filters: Prefect 3.8.8's client helpers send null sub-filters its own server rejects (422).
    """
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        http = client._client
        runs: list[dict[str, Any]] = []
        for offset in range(0, 2000, 200):  # the server pages at 200
            body = {"sort": "START_TIME_DESC", "limit": 200, "offset": offset}
            resp = await http.post("/flow_runs/filter", json=body)
            page = resp.json()
            runs.extend(page)
            if len(page) < 200:
                break
        flows = {f["id"]: f["name"] for f in (await http.post("/flows/filter", json={"limit": 200})).json()}
        out = []
        for r in runs:
            if str((r.get("parameters") or {}).get("date")) != day:
                continue
            arts = (await http.post("/artifacts/filter", json={
                "artifacts": {"flow_run_id": {"any_": [r["id"]]}}, "limit": 200, "offset": 0})).json()
            state = r.get("state") or {}
            out.append(
                {
                    "flow": flows.get(r["flow_id"], r["flow_id"]),
                    "flow_run": r["name"],
                    "id": r["id"],
                    "state": state.get("name"),
                    "start": r.get("start_time"),
                    "end": r.get("end_time"),
                    "artifacts": [str(a.get("key") or a.get("type") or "artifact") for a in arts],
                }
            )
        return out


def latest_flow_states(day: dt.date, exclude: str = "ops-report") -> list[dict[str, str]]:
    """The day's flow runs as Prefect recorded them (latest run per flow)."""
    latest: dict[str, str] = {}
    for r in reversed(asyncio.run(day_runs(day.isoformat()))):  # oldest first, so the newest run wins
        if r["flow"] != exclude:
            latest[str(r["flow"])] = str(r["state"])
    return [{"flow": f, "state": s} for f, s in sorted(latest.items())]


def tag_current_flow_run(tags: list[str]) -> None:
    """Add tags to the current flow run (no-op outside one)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    run = ctx.flow_run
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(run.id).tags
        client.update_flow_run(run.id, tags=sorted(set(current) | set(tags)))


async def deployments(http: Any) -> list[dict[str, Any]]:
    """Every deployment (raw JSON), through the REST filter with explicit paging and sort."""
    out: list[dict[str, Any]] = []
    for offset in range(0, 2000, 200):
        page = (await http.post("/deployments/filter", json={"limit": 200, "offset": offset,
                                                             "sort": "NAME_ASC"})).json()
        out.extend(page)
        if len(page) < 200:
            return out
    return out


async def workers(http: Any, pool: str) -> list[dict[str, Any]]:
    """The workers of a work pool (raw JSON: name, status, last heartbeat)."""
    resp = await http.post(f"/work_pools/{pool}/workers/filter", json={"limit": 200, "offset": 0})
    resp.raise_for_status()
    return resp.json()  # type: ignore[no-any-return]
