"""The main job end to end with a small day, as a user runs it: `opsctl demo` in its own process, with its own
local Prefect server (so the automations really run), then the runbook against what it left up.

One demo serves every assertion (it is the suite's longest test); the services are stopped at the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The module fixture runs the whole demo day (minutes): the suite's 300 s per-test default would cut the
# first test's setup; `_opsctl` bounds each command itself.
pytestmark = pytest.mark.timeout(1500)

DAY = dt.date(2026, 11, 20)
ROOT = Path(__file__).resolve().parents[2]
DAY_FLOWS = {"sod-load", "locates", "bp-refresh", "preopen-check", "eod-capture", "regsho-report", "recon", "cat",
             "retention", "cat-feedback", "ops-report", "regsho-closeout", "clock-report", "controls-report",
             "control-verification", "intraday-recon"}


def _opsctl(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "COLO_OPS_HOME": str(home), "PREFECT_HOME": str(home / "prefect-home"), "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "flows.opsctl.app", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("demo-home")
    try:
        run = _opsctl(home, "demo", "--date", DAY.isoformat(), "--orders", "100", "--seed", "7", "--json")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        yield home, json.loads(run.stdout)
    finally:
        _opsctl(home, "demo", "--down", timeout=120)


def _api_url(home: Path) -> str:
    return str(json.loads((home / "run" / "prefect-server.json").read_text())["url"])


async def _server_view(api_url: str) -> dict[str, Any]:
    """Deployments, the flow runs and flow names, read over the REST API (raw JSON)."""
    import httpx

    from flows.orchestration.prefect_runs import deployments

    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        deps = await deployments(http)
        runs = (await http.post("/flow_runs/filter", json={"limit": 200, "offset": 0,
                                                           "sort": "EXPECTED_START_TIME_ASC"})).json()
        listed = (await http.post("/flows/filter", json={"limit": 200, "offset": 0})).json()
    flows = {f["id"]: f["name"] for f in listed}
    return {"deployments": {d["name"]: d for d in deps}, "runs": runs, "flows": flows}


def test_demo_when_small_day_then_every_step_ends_as_planned_and_every_report_exists(
        demo: tuple[Path, dict[str, Any]]) -> None:
    home, out = demo
    unexpected = [(s["name"], s["state"], s["detail"]) for s in out["steps"]
                  if s["state"] != s["expect"] and s["state"] != "skipped"]
    assert unexpected == []
    assert out["ok"] is True
    rep = home / "reports" / DAY.isoformat()
    for path in ("ops-report.html", "cat_report.json", "recon/recon.html", "recon/breaks.csv",
                 "regsho/regsho_2026-11-20.json"):
        assert (rep / path).is_file(), path
    assert list((rep / "cat").glob("*_OrderEvents_*.json.bz2"))
    assert list((rep / "retention").glob("attestation-*.json"))
    html = (rep / "ops-report.html").read_text()
    assert "ORDER_NEW" in html and "<svg" in html
    assert "intraday ACCOUNT_MISMATCH" in html and "intraday QTY_MISMATCH" in html  # the drop copy's seeded errors
    clock = json.loads((rep / "clock" / f"clock_{DAY}.json").read_text())["summary"]
    assert (clock["house_breaches"], clock["cat_breaches"]) == (1, 0)  # the seeded excursion, once
    closeout = json.loads((rep / "regsho" / f"closeout_{DAY}.json").read_text())
    assert [p["symbol"] for p in closeout["penalty_box"]] == ["INTC"]


def test_demo_when_done_then_every_run_of_the_day_is_a_deployment_run_and_schedules_are_visible(
        demo: tuple[Path, dict[str, Any]]) -> None:
    from flows.orchestration.deployments import load_plan

    home, _ = demo
    view = asyncio.run(_server_view(_api_url(home)))
    plan = load_plan()
    assert set(view["deployments"]) == {d.name for d in plan.deployments}
    for d in plan.deployments:
        crons = sorted(s["schedule"]["cron"] for s in view["deployments"][d.name]["schedules"])
        assert crons == sorted(s.cron for s in d.schedules), d.name
    day_runs = [r for r in view["runs"] if str((r["parameters"] or {}).get("date")) == DAY.isoformat()]
    assert {view["flows"][r["flow_id"]] for r in day_runs} >= DAY_FLOWS
    assert all(r["deployment_id"] is not None for r in day_runs)
    sod = [r for r in day_runs if view["flows"][r["flow_id"]] == "sod-load"]
    assert [r["state"]["name"] for r in sod][:2] == ["Failed", "Completed"]  # the seeded file, then its re-delivery


def test_demo_when_seeded_file_fails_then_the_failure_automation_pages_once(demo: tuple[Path, dict[str, Any]]) -> None:
    from flows.orchestration.ops_web import received_hooks

    home, out = demo
    pages = [h for h in received_hooks(home) if "entered Failed" in json.dumps(h["body"])]
    assert len(pages) == 1 and "sod-load" in json.dumps(pages[0]["body"])
    assert out["trouble"]["rejected_file"]["field"] == "equity"
    assert (home / "quarantine" / DAY.isoformat() / out["trouble"]["rejected_file"]["file"]).is_file()


def test_demo_when_seeded_booking_error_and_cat_rejection_then_recon_breaks_and_the_repair_is_submitted(
        demo: tuple[Path, dict[str, Any]]) -> None:
    home, out = demo
    rep = home / "reports" / DAY.isoformat()
    breaks = (rep / "recon" / "breaks.csv").read_text()
    assert str(out["trouble"]["misbooked"]["exec_id"]) in breaks
    cat = json.loads((rep / "cat_report.json").read_text())
    assert cat["repairs_outstanding"] == [] or cat["repairs_outstanding"] == 0
    assert any(s["kind"] == "RPR" for s in json.loads((rep / "cat_submissions.json").read_text()))


async def _prefect_trip(api_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `riskwatch-trip` artifacts and the `colo-ops.riskwatch.flatten.*` events the server holds."""
    import httpx

    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        arts = (await http.post("/artifacts/filter", json={"artifacts": {"key": {"any_": ["riskwatch-trip"]}}})).json()
        events = (await http.post("/events/filter", json={"filter": {"event": {"prefix": [
            "colo-ops.riskwatch.flatten"]}}, "limit": 10})).json()
    return arts, list(events.get("events") or [])


def test_demo_when_a_runaway_account_trips_then_it_is_flattened_in_the_ops_report_and_in_prefect(
        demo: tuple[Path, dict[str, Any]]) -> None:
    from flows.orchestration.ops_web import received_hooks

    home, out = demo
    trip = out["trouble"]["trip"]
    assert (trip["rule"], trip["account"], trip["outcome"]) == ("runaway-account", "PROP03", "flat")
    assert trip["flatten_orders"] >= 1
    kills = home / "reports" / DAY.isoformat() / "kills"
    doc = json.loads(next(kills.glob("kill-*.json")).read_text())
    assert doc["operator"] == "riskwatch" and doc["outcome"] == "flat" and doc["open_positions"] == {}
    assert [e["event"] for e in doc["timeline"]][-1] == "flat"
    html = (home / "reports" / DAY.isoformat() / "ops-report.html").read_text()
    assert "<h2>Kill to flat</h2>" in html and f'href="kills/{Path(trip["report"]).name}"' in html
    assert "account PROP03" in html
    arts, events = asyncio.run(_prefect_trip(_api_url(home)))
    assert arts and "Account PROP03 tripped rule `runaway-account`" in arts[0]["data"]
    assert [e["event"] for e in events] == ["colo-ops.riskwatch.flatten.flat"]
    hooks = [h["body"] for h in received_hooks(home) if isinstance(h["body"], dict)
             and h["body"].get("source") == "riskwatch"]
    assert {h["event"] for h in hooks} == {"trip", "flatten"}  # the watcher's webhook, as the automations use


def test_demo_when_done_then_controls_report_verification_and_review_pack_are_the_15c3_5_evidence(
        demo: tuple[Path, dict[str, Any]]) -> None:
    home, out = demo
    rep = home / "reports" / DAY.isoformat()
    doc = json.loads((rep / "controls" / f"controls_{DAY}.json").read_text())
    assert doc["summary"]["ok"], doc["checks"]
    assert doc["limits"]["at_open"]["PROP04"]["max_order_notional"] == "250000"  # infra/limits.toml, pushed
    trip = [k for k in doc["kills"]["events"] if k["origin"] == "automatic"]
    assert trip and trip[0]["operator"] == "riskwatch" and trip[0]["key"] == "PROP03"
    assert doc["rejects"]["total"] == sum(r["count"] for r in doc["rejects"]["by_control"]) > 0
    assert {s["name"] for s in doc["sources"]} >= {"journal", "control audit log", "preopen limits snapshot"}
    assert all(len(s["sha256"]) == 64 for s in doc["sources"])
    run = _opsctl(home, "rerun", "controls-report", "--date", DAY.isoformat(), "--json", timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    html = (rep / "controls" / f"controls_{DAY}.html").read_bytes()
    # the services keep running (the risk watcher may act again), so compare two runs back to back
    local = _opsctl(home, "compliance", "controls-report", "--date", DAY.isoformat(), "--json", timeout=300)
    assert local.returncode == 0, local.stdout + local.stderr
    assert (rep / "controls" / f"controls_{DAY}.html").read_bytes() == html  # re-run: byte-identical
    verification = json.loads((rep / "compliance" / f"control_verification_{DAY}.json").read_text())
    assert verification["passed"] and len(verification["by_control"]) == 11
    pack = json.loads((rep / "compliance" / f"review_{DAY}_{DAY}.json").read_text())
    assert all(c["verification"] == "PASS" for c in pack["inventory"]) and pack["gaps"] == []
    review = _opsctl(home, "compliance", "review", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--json")
    assert review.returncode == 0, review.stdout + review.stderr
    ops = (rep / "ops-report.html").read_text()
    assert f'href="controls/controls_{DAY}.html"' in ops and f'href="compliance/review_{DAY}_{DAY}.html"' in ops


def test_runbook_when_rerun_after_demo_then_it_completes_through_the_deployment_and_changes_nothing(
        demo: tuple[Path, dict[str, Any]]) -> None:
    home, _ = demo
    rep = home / "reports" / DAY.isoformat() / "recon"
    before = {p.name: p.read_bytes() for p in rep.iterdir() if p.is_file()}
    run = _opsctl(home, "rerun", "recon", "--date", DAY.isoformat(), "--json", timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["state"] == "Completed"
    assert {p.name: p.read_bytes() for p in rep.iterdir() if p.is_file()} == before
    status = _opsctl(home, "status", "--date", DAY.isoformat(), "--json", timeout=120)
    doc = json.loads(status.stdout)
    rows = doc["runs"]
    assert {r["flow"] for r in rows} >= DAY_FLOWS
    assert "Failed" in {r["state"] for r in rows if r["flow"] == "sod-load"}  # the seeded failure, then
    assert (status.returncode, doc["ok"], doc["failed"]) == (0, True, [])  # repaired by the re-delivery
    local = _opsctl(home, "run", "recon", "--local", "--date", DAY.isoformat(), "--json", timeout=300)
    assert local.returncode == 0, local.stdout + local.stderr  # the clearing SFTP twin is still up


def _chromium(url: str, screenshot: Path | None = None, budget_ms: int = 20000) -> str:
    """What a person sees: the page after its scripts ran (DOM), and optionally a PNG of it."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is missing: .ci/run installs Debian's `chromium` package"
    base = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--window-size=1400,1000", f"--virtual-time-budget={budget_ms}"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*base, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
    return dom.stdout


def test_browser_when_the_ui_and_the_ops_report_are_opened_then_deployments_and_sections_are_rendered(
        demo: tuple[Path, dict[str, Any]]) -> None:
    from flows.orchestration.deployments import load_plan
    from flows.orchestration.ops_web import read_state

    home, out = demo
    screens = home / "reports" / DAY.isoformat() / "screens"
    ui = _api_url(home).removesuffix("/api")
    dom = _chromium(f"{ui}/deployments", screens / "prefect-deployments.png")
    names = sorted(d.name for d in load_plan().deployments)
    assert f"{len(names)} Deployments" in dom  # the UI's count of what the server holds
    first_page = names[:10]  # the UI lists 10 per page, A to Z
    assert [n for n in first_page if n not in dom] == [], "deployments not rendered by the Prefect UI"
    web = read_state(home)
    assert web is not None, "the demo's ops web is not running"
    report = _chromium(f"{web['reports_base_url']}/{DAY.isoformat()}/ops-report.html", screens / "ops-report.png",
                       budget_ms=3000)
    for section in ("HA drill", "Reconciliation", "CAT", "Exceptions", "file rejected", "CAT error", "Kill to flat"):
        assert section in report, section
    assert "primary_crash" in report or "primary_network" in report  # the HA table has its rows
    assert str(out["trouble"]["misbooked"]["exec_id"]) in report or "QTY" in report  # the seeded break shows
    assert (screens / "prefect-deployments.png").stat().st_size > 10_000
    assert (screens / "ops-report.png").stat().st_size > 10_000
