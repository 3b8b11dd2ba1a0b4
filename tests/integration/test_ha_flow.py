"""The `ha-drill` Prefect flow under the harness: drills over SSH, report under reports/<date>/ha/, rows
in ha_drills; and the store on SQLite and PostgreSQL (idempotent per date)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import select

from flows.ha.store import store_drills
from flows.store.db import make_engine, session_scope, upgrade
from flows.store.models import HaDrill


def _artifacts(flow_run_id: object) -> dict[str, dict[str, object]]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # plain REST: 3.8.8's client sends null sub-filters
        resp = client._client.post("/artifacts/filter", json={
            "artifacts": {"flow_run_id": {"any_": [str(flow_run_id)]}}, "limit": 50, "offset": 0})
        resp.raise_for_status()
    return {a["key"]: a for a in resp.json()}


def test_ha_drill_flow_when_run_then_report_lists_refusal_and_rows_stored(prefect_harness: None, ops_home: Path,
                                                                           sqlite_url: str) -> None:
    from flows.jobs.ha_drill import ha_drill

    state = ha_drill(date="2026-11-21", scenarios=["primary_crash", "second_primary"], db_url=sqlite_url,
                     return_state=True)
    out = state.result()
    assert out["drills"] == 2 and out["stored"] == 2
    arts = _artifacts(state.state_details.flow_run_id)
    assert "| primary_crash | PASS | sigkill |" in arts["ha-drill-summary"]["data"]
    assert arts["ha-drill-progress"]["type"] == "progress" and float(arts["ha-drill-progress"]["data"]) == 100.0
    jpath = ops_home / "reports" / "2026-11-21" / "ha" / "ha-drill.json"
    doc = json.loads(jpath.read_text())
    assert doc["passed"] is True
    assert {r["command"] for r in doc["split_brain_refusals"]} == {"set_kill", "ha_promote"}
    assert [d["fault_method"] for d in doc["drills"]] == ["sigkill", "second_primary"]
    html = (jpath.with_suffix(".html")).read_text()
    assert "<svg" in html and "HA_SPLIT_BRAIN" in html and "<th>fault method</th>" in html
    engine = make_engine(sqlite_url)
    with session_scope(engine, readonly=True) as s:
        rows = s.scalars(select(HaDrill).order_by(HaDrill.drill_id)).all()
    engine.dispose()
    assert [(r.scenario, r.result) for r in rows] == [("primary_crash", "pass"), ("second_primary", "pass")]
    assert [r.metrics["fault_method"] for r in rows] == ["sigkill", "second_primary"]


def test_store_drills_when_rerun_for_same_date_then_rows_replaced(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    started = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.UTC)
    first = [{"scenario": "primary_crash", "ok": True, "metrics": {"accept_ms": 250.0}},
             {"scenario": "standby_crash", "ok": False, "failures": ["journal not gap-free"]}]
    store_drills(engine, "2026-11-21", first, started)
    store_drills(engine, "2026-11-21", first[:1], started)
    with session_scope(engine, readonly=True) as s:
        rows = s.scalars(select(HaDrill)).all()
    engine.dispose()
    assert [(r.drill_id, r.result, r.metrics["metrics"]) for r in rows] == [
        ("ha-2026-11-21-00-primary_crash", "pass", {"accept_ms": 250.0})]
