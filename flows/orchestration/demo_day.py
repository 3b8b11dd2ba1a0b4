"""The main job: one whole simulated trading day, end to end, through Prefect as in production.

    services   local Prefect server · infra/prefect.yaml applied (work pool, deployments, limits, automations)
               · twin core (primary [+ standby]) · drop-copy capture · clearing SFTP twin · ops web (reports
               over HTTP + the webhook sink) · a Prefect worker on the `ops` pool
    the day    sod-load (rejected file) → re-delivery → sod-load → regsho-closeout (a fail past its Rule 204
               deadline: the penalty box) → locates → bp-refresh → preopen-check → trading session (N orders;
               the twin's clock breaches the house tolerance once) → eod-capture → clock-report →
               clearing EOD files (one misbooked fill) → regsho-report → recon → cat (one record CAT rejects) →
               controls-report → control-verification → 15c3-5 review pack → retention → ha-drill →
               cat-feedback (next morning: the repair) → the failure page arrives → ops-report

Every flow is a run of its deployment, executed by the worker, so the UI shows the schedules and every run
belongs to a deployment (the demo pauses the schedules: its day is a past date it triggers explicitly).
The trouble is on purpose and chosen by the seed (demo_trouble.py). The services stay up after the demo so
the runbook works as written (`opsctl run|rerun|status`); `opsctl demo --down` stops them all.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings, load_settings
from flows.orchestration.day_tuning import FLOW_TIMEOUT_S, DayTuning
from flows.orchestration.demo_compliance import COMPLIANCE_DIRS, COMPLIANCE_PLAN, compliance_steps
from flows.orchestration.demo_services import (
    active_api_url,
    record,
    start_capture,
    start_clearing_sftp,
    start_core,
    start_ops_web,
    start_worker,
    stop_all,
)
from flows.orchestration.demo_trip import runaway_trip

DEMO_MARKER = "DEMO_HOME"  # written into a home the demo owns; kept across runs
PREVIOUS_DIR = "previous"  # earlier demo runs of a home, moved aside whole: <home>/previous/<UTC stamp>/
ALERT_TIMEOUT_S = 90.0



@dataclass
class Step:
    name: str
    state: str = "pending"
    seconds: float = 0.0
    detail: str = ""
    reports: list[str] = field(default_factory=list)
    expect: str = "Completed"  # the seeded failure expects "Failed"

    @property
    def as_expected(self) -> bool:
        return self.state == self.expect or self.state == "skipped"


@dataclass
class DemoResult:
    date: str
    steps: list[Step]
    prefect_ui: str
    reports_dir: str
    trouble: dict[str, Any] = field(default_factory=dict)  # what was seeded, and the page it caused

    @property
    def ok(self) -> bool:
        return all(s.as_expected for s in self.steps)


def prepare_home(settings: Settings, day: dt.date, *, stamp: str | None = None) -> Path | None:
    """Make `settings.home` ready for a demo of `day`; return where an earlier demo of that day was moved.

    A day is simulated once per home (its CAT submission is sealed, its journal holds one session). So when
    this home already holds a demo of `day`, that run is moved aside whole, nothing deleted, into
    `<home>/previous/<UTC stamp>/`, and the new run starts from an empty home. A home holding that day's
    reports without the demo's marker is someone's real data: refused, untouched.
    """
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    marker = home / DEMO_MARKER
    if not settings.reports_dir(day.isoformat()).exists():
        marker.write_text("this data home belongs to `opsctl demo`\n")
        return None
    # Homes from before the marker existed are known by the clearing firm's twin, which only demos run.
    if not marker.exists() and not (home / "clearing_twin").is_dir():
        from flows.errors import DemoHomeError

        raise DemoHomeError(f"{home} already holds reports for {day} that no demo wrote; point COLO_OPS_HOME at "
                            "another directory or pick another --date")
    stop_all(settings, prefect=True)  # every service of the earlier run has files open under the home
    dest = home / PREVIOUS_DIR / (stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ"))
    dest.mkdir(parents=True)
    for entry in home.iterdir():
        if entry.name not in (PREVIOUS_DIR, DEMO_MARKER):
            entry.rename(dest / entry.name)
    return dest


def default_demo_date(now: dt.datetime | None = None) -> dt.date:
    """The most recent NYSE session that has closed (yesterday's session before 16:00 ET)."""
    from flows.calendars import is_session, previous_session
    from flows.dates import today_ny

    today = today_ny(now)
    return today if is_session(today) and (now or dt.datetime.now(dt.UTC)).hour >= 21 else previous_session(today)


# --------------------------------------------------------------------------------------------------- the day

# --------------------------------------------------------------------------------------------------- the day
def publish_clearing_sod(settings: Settings, day: dt.date) -> None:
    from flows.calendars import previous_session
    from hw.clearing_twin import publisher
    from hw.clearing_twin.book import initial_book

    root = settings.home / "clearing_twin" / "served"
    publisher.publish_sod(root, day, initial_book())
    # Threshold lists: the exchanges publish after each settlement day; the locates flow walks back to the
    # right one over weekends and bank holidays, so publish the last week's.
    d = previous_session(day)
    for back in range(7):
        publisher.publish_threshold_lists(root, d - dt.timedelta(days=back))
    # CNS fails: a short-sale fail due at today's open (the penalty box) and a long-sale fail not yet due
    from flows.calendars import previous_settlement_day
    from hw.clearing_twin import ftd

    last = previous_settlement_day(day)
    ftd.publish_ftd(root, day, ftd.demo_fails(day, last, previous_session(last)))


def trade_session(settings: Settings, day: dt.date, n_orders: int, seed: int,
                  on_progress: Callable[[int], None], *, rate: int | None = None,
                  reproducible: bool = False) -> dict[str, Any]:
    """Drive N orders through the twin's live order-flow generator, then expire DAY orders at the close.

    `rate`: orders/s (default from N). `reproducible`: exactly N steps stamped from 10:00 ET on the generator's
    own clock (`sim start_flow` count/stamp_from_ns), so a same-seed day has the same events byte for byte
    (the chaos run compares against one)."""
    from core_bridge.client.commands import CoreClient

    # The twin's generator emits exactly `rate` order actions per second of its own clock, so the session
    # length is n_orders / rate; progress is reported against that.
    from core_bridge.protocol import TELEMETRY_TOPIC_HEALTH
    from core_bridge.telemetry import TelemetrySubscriber

    rate = rate or max(50, min(1000, n_orders // 10))
    flow_args: dict[str, Any] = {}
    if reproducible:
        from zoneinfo import ZoneInfo

        ten = dt.datetime.combine(day, dt.time(10, 0), ZoneInfo("America/New_York"))
        flow_args = {"count": n_orders, "stamp_from_ns": int(ten.timestamp()) * 1_000_000_000}
    sub = TelemetrySubscriber(settings.core_endpoint("telemetry"), settings.keys_dir, "monitor",
                              topics=(TELEMETRY_TOPIC_HEALTH,))
    samples: list[dict[str, Any]] = []
    try:
        with CoreClient.from_settings(identity="operator", operator="demo", settings=settings) as c:
            c.sim("start_flow", reason="demo session", rate=rate, seed=seed, **flow_args)
            t0 = time.monotonic()
            duration = n_orders / rate
            flowing = True
            # A reproducible flow stops by itself after its N steps: wait for the core to say so.
            while (elapsed := time.monotonic() - t0) < duration or (reproducible and flowing
                                                                      and elapsed < duration * 3 + 60):
                on_progress(min(n_orders, int(elapsed * rate)))
                got = sub.recv(min(250, max(1, (duration - elapsed) * 1000)))
                if got is not None and isinstance(got[1].get("gate_latency_ns"), dict):
                    samples.append(got[1]["gate_latency_ns"])
                if got is not None and elapsed >= duration and got[1].get("flow_rate") == 0:
                    flowing = False
            on_progress(n_orders)
            c.sim("stop_flow", reason="demo close")
            expired = c.sim("end_of_day", reason="demo close").result.get("expired")
            last = c.status().result
    finally:
        sub.close()
    p50s = sorted(float(x["p50"]) for x in samples if x.get("p50") is not None)
    p99s = sorted(float(x["p99"]) for x in samples if x.get("p99") is not None)
    out = {"orders": n_orders, "rate": rate, "expired": expired, "last_seq": last.get("last_seq"),
           "epoch": last.get("epoch"),
           "gate_latency_ns": {"p50 (median of 1 s windows)": p50s[len(p50s) // 2] if p50s else None,
                               "p99 (worst 1 s window)": p99s[-1] if p99s else None}}
    rep = settings.reports_dir(day.isoformat())
    rep.mkdir(parents=True, exist_ok=True)
    (rep / "session.json").write_text(json.dumps(out, indent=2, sort_keys=True))
    return out


def publish_clearing_eod(settings: Settings, day: dt.date, misbook_seed: int | None = None) -> dict[str, Any]:
    """The clearer's EOD positions and trade file, from what the core actually traded (the loaded journal);
    with `misbook_seed`, one fill is booked with a wrong quantity (demo_trouble.misbook_one_fill)."""
    from core_bridge.protocol import Side
    from flows.calendars import settlement_date
    from flows.recon.synthetic import fills_from_events
    from flows.store.db import make_engine
    from flows.store.reader import read_events
    from hw.clearing_twin import publisher
    from hw.clearing_twin.book import Fill, initial_book

    engine = make_engine(settings.db_url)
    try:
        events = read_events(engine, trade_date=day)
    finally:
        engine.dispose()
    fills = fills_from_events(events, day.isoformat())
    twin_fills = [Fill(int(r.exec_id), int(r.order_id), int(r.ts_ns), r.account, r.symbol,
                       Side.BUY if r.side == 1 else Side.SELL, int(r.qty), int(r.price))
                  for r in fills.itertuples(index=False)]
    misbooked = None
    if misbook_seed is not None:
        from flows.orchestration.demo_trouble import misbook_one_fill

        booked, misbooked = misbook_one_fill(twin_fills, misbook_seed)
    else:
        booked = twin_fills
    root = settings.home / "clearing_twin" / "served"
    # EOD positions follow what the clearer booked (its own view), so the break shows in trades and positions.
    _, paths = publisher.publish_eod(root, day, initial_book(), booked, settlement_date(day))
    return {"files": [Path(p).name for p in paths], "misbooked": misbooked}




# --------------------------------------------------------------------------------------------------- running it
def _state_name(result: Any) -> str:
    from prefect.states import State

    if isinstance(result, State):
        return str(result.name)
    return "Completed"


def run_deployment_and_wait(name: str, parameters: dict[str, Any], timeout_s: float = FLOW_TIMEOUT_S) -> Any:
    """Trigger deployment `name` (flows are named like their deployment) and wait for its final state."""
    from prefect.deployments import run_deployment

    fr: Any = run_deployment(name=f"{name}/{name}", parameters=parameters, timeout=timeout_s)
    if fr.state is None or not fr.state.is_final():
        raise TimeoutError(f"{name}: no final state within {timeout_s:.0f} s (is the worker up?)")
    return fr.state


async def _pause_schedules() -> int:
    """The demo's day is a past date triggered explicitly: pause every schedule so the worker runs only that."""
    from prefect.client.orchestration import get_client

    from flows.orchestration.prefect_runs import deployments

    n = 0
    async with get_client() as client:
        for dep in await deployments(client._client):
            for sched in dep.get("schedules") or []:
                if sched.get("active"):
                    await client.update_deployment_schedule(dep["id"], sched["id"], active=False)
                    n += 1
    return n


def _apply_deployments(webhook_url: str) -> dict[str, Any]:
    import asyncio

    from flows.orchestration.apply import apply_plan

    res = asyncio.run(apply_plan(alerts_url=webhook_url))
    paused = asyncio.run(_pause_schedules())
    return {"deployments": len(res.deployments), "automations": len(res.automations), "schedules_paused": paused}


def _wait_for_page(home: Path, flow: str, timeout_s: float = ALERT_TIMEOUT_S) -> dict[str, Any]:
    """The failure automation's notification, as the webhook sink received it."""
    from flows.orchestration.ops_web import received_hooks

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for hook in received_hooks(home):
            if flow in json.dumps(hook["body"]):
                return {"hook": hook["hook"], "received": dt.datetime.fromtimestamp(
                    hook["received_ns"] / 1e9, tz=dt.UTC).isoformat(timespec="seconds")}
        time.sleep(0.5)
    raise TimeoutError(f"no notification about {flow} reached the webhook sink within {timeout_s:.0f} s")


def run_demo(
    date: dt.date | None = None,
    n_orders: int = 2000,
    seed: int = 20261120,
    *,
    with_ha: bool = True,
    on_step: Callable[[Step], None] | None = None,
    on_orders: Callable[[int], None] | None = None,
    tuning: DayTuning | None = None,
) -> DemoResult:
    saved_env = dict(os.environ)
    try:
        return _run_demo(date, n_orders, seed, with_ha=with_ha, on_step=on_step, on_orders=on_orders,
                         tuning=tuning or DayTuning())
    finally:
        # The day's wiring (session clock, alert sink) lives in this process's environment for the services
        # it starts; put it back so whatever runs next in this process sees its own configuration.
        for key in set(os.environ) - set(saved_env):
            del os.environ[key]
        os.environ.update(saved_env)


def planned_steps(with_ha: bool) -> int:
    """How many steps a demo reports (the progress bar's total), counted from the plan below."""
    return len(_PLAN) + (1 if with_ha else 0) + 1  # + ha-drill (run or skipped) + ops-report


_PLAN = ("prefect server", "deployments", "twin core", "capture", "clearing SFTP twin", "ops web", "worker",
         "clearing SOD files", "approved 15c3-5 limits", "flow:sod-load", "clearing re-delivers SOD balances",
         "flow:sod-load", "flow:regsho-closeout", "flow:locates", "flow:bp-refresh", "flow:preopen-check",
         "trading session", "runaway account trip", "FIX drop copy", "flow:intraday-recon", "flow:eod-capture",
         "flow:clock-report", "clearing EOD files", "flow:regsho-report", "flow:recon", "CAT rejects a record",
         "flow:cat", *COMPLIANCE_PLAN, "flow:retention", "flow:cat-feedback", "failure page")


def _run_demo(date: dt.date | None, n_orders: int, seed: int, *, with_ha: bool,
              on_step: Callable[[Step], None] | None, on_orders: Callable[[int], None] | None,
              tuning: DayTuning) -> DemoResult:
    from flows.orchestration import demo_trouble as trouble
    from flows.orchestration.demo_fix import start_fix_dropcopy
    from flows.orchestration.local_server import ensure_server

    settings = load_settings()
    day = date or default_demo_date()
    os.environ["COLO_OPS_HOME"] = str(settings.home)
    stop_all(settings, prefect=False)  # a previous demo's services, if any
    moved = prepare_home(settings, day)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    facts: dict[str, Any] = {}

    def step(name: str, fn: Callable[[], Any], expect: str = "Completed") -> Any:
        s = Step(name, "running", expect=expect)
        steps.append(s)
        if on_step:
            on_step(s)
        t0 = time.perf_counter()
        try:
            out = fn()
            s.state = _state_name(out) if name.startswith("flow:") else "Completed"
            if name.startswith("flow:") and getattr(out, "message", None):
                s.detail = str(out.message)[:200]
            elif isinstance(out, dict):
                s.detail = ", ".join(f"{k}={v}" for k, v in list(out.items())[:4] if not isinstance(v, dict | list))
            return out
        except Exception as exc:
            s.state = "Failed"
            s.detail = f"{type(exc).__name__}: {exc}"[:300]
            return None
        finally:
            s.seconds = round(time.perf_counter() - t0, 2)
            if on_step:
                on_step(s)

    def flow(name: str, expect: str = "Completed", **params: Any) -> Any:
        for attempt in range(1, tuning.flow_attempts + 1):
            out = step(f"flow:{name}", lambda: run_deployment_and_wait(name, {"date": d, **params},
                                                                       tuning.flow_timeout_s), expect)
            last = steps[-1]
            if last.state == expect or attempt == tuning.flow_attempts:
                return out
            last.detail = f"attempt {attempt} {last.state}, rerun: {last.detail}"[:300]
            last.expect = last.state  # the rerun is the outcome that counts
        return None

    d = day.isoformat()
    if moved is not None:
        steps.append(Step("earlier demo of this day", "Completed", detail=f"moved to {moved}"))
    api_url = active_api_url()
    if api_url:  # an existing server (a deployment, or the tests' harness)
        steps.append(Step("prefect server", "Completed", detail=f"using {api_url}"))
    else:
        info = step("prefect server", lambda: ensure_server(settings))
        api_url = info.url if info else ""
    web = step("ops web", lambda: start_ops_web(settings)) or {}
    record(settings, date=d, web_pid=web.get("pid"))
    os.environ["COLO_OPS_ALERTS_WEBHOOK_URL"] = str(web.get("webhook_url", ""))
    os.environ["COLO_OPS_REPORTS_BASE_URL"] = str(web.get("reports_base_url", ""))
    step("deployments", lambda: _apply_deployments(str(web.get("webhook_url", ""))))
    ha_available = with_ha and _ha_available()
    os.environ["COLO_OPS_TWIN_CLOCK_PLAN"] = f"{seed}:breach"  # one excursion past the house clock tolerance
    core = step("twin core" + (" pair" if ha_available else ""), lambda: start_core(settings, day, ha_available))
    record(settings, core=core)
    record(settings, capture_pid=step("capture", lambda: start_capture(settings)))
    sftp = step("clearing SFTP twin", lambda: start_clearing_sftp(settings)) or {}
    record(settings, sftp_pid=sftp.get("pid"))
    record(settings, worker_pid=step("worker", lambda: start_worker(settings, api_url)))
    if tuning.on_services is not None:
        step("more services", lambda: tuning.on_services(settings))  # type: ignore[misc]

    served = settings.home / "clearing_twin" / "served"
    def sod_files() -> trouble.CorruptFile:
        publish_clearing_sod(settings, day)
        return trouble.corrupt_balances(served, day, seed)

    bad = step("clearing SOD files", sod_files)
    if bad is not None:
        steps[-1].detail = f"{bad.path.name} line {bad.line} field {bad.field} corrupt (seeded)"
        facts["rejected_file"] = {"file": bad.path.name, "line": bad.line, "field": bad.field}
    step("approved 15c3-5 limits", lambda: _push_limits(settings))
    flow("sod-load", expect="Failed" if bad is not None else "Completed")
    if bad is not None:
        step("clearing re-delivers SOD balances", lambda: trouble.redeliver(bad))
        flow("sod-load")
    flow("regsho-closeout")
    flow("locates")
    flow("bp-refresh", as_of=dt.datetime(day.year, day.month, day.day, 11, 15, tzinfo=dt.UTC).isoformat())
    flow("preopen-check")
    step("trading session", lambda: trade_session(settings, day, n_orders, seed, on_orders or (lambda n: None),
                                                  rate=tuning.session_rate, reproducible=tuning.reproducible))
    # The risk watcher trips a scripted runaway and flattens it (demo_trip.py); not on a same-seed replay.
    facts["trip"] = step("runaway account trip", lambda: runaway_trip(settings, day, skip=tuning.reproducible))
    facts["dropcopy_breaks"] = (step("FIX drop copy", lambda: start_fix_dropcopy(settings, day, seed)) or {}).get(
        "expected_breaks")
    flow("intraday-recon", as_of_ns=time.time_ns())
    flow("eod-capture")
    flow("clock-report")
    eod = step("clearing EOD files", lambda: publish_clearing_eod(settings, day, misbook_seed=seed)) or {}
    facts["misbooked"] = eod.get("misbooked")
    flow("regsho-report")
    flow("recon")
    roe = step("CAT rejects a record", lambda: {"firmROEID": _seed_cat_rejection(settings, day, seed)}) or {}
    facts["cat_rejected"] = roe.get("firmROEID")
    flow("cat")
    compliance_steps(flow, step, settings, day)  # 15c3-5 evidence: controls report, verification, review pack
    flow("retention")
    if ha_available:
        flow("ha-drill")
    else:
        steps.append(Step("flow:ha-drill", "skipped", detail="no OpenSSH sshd here (make demo installs it)"))
    flow("cat-feedback")
    if bad is not None:
        facts["page"] = step("failure page", lambda: _wait_for_page(settings.home, "sod-load"))
    flows_state = [{"flow": s.name.removeprefix("flow:"), "state": s.state}
                   for s in steps if s.name.startswith("flow:")]
    step("flow:ops-report", lambda: run_deployment_and_wait("ops-report", {"date": d, "flows": flows_state}))
    rep = settings.reports_dir(d)
    for s in steps:
        s.reports = _reports_for(s.name, rep)
    (settings.run_dir / "demo-trouble.json").write_text(json.dumps(facts, indent=2, sort_keys=True, default=str))
    return DemoResult(d, steps, api_url.removesuffix("/api"), str(rep), facts)


def _push_limits(settings: Settings) -> dict[str, Any]:
    from flows.controls.limits import push_limits

    return push_limits(settings)


def _seed_cat_rejection(settings: Settings, day: dt.date, seed: int) -> str | None:
    from flows.cat.events import load_events
    from flows.orchestration import demo_trouble as trouble
    from hw.refdata import ACCOUNTS_BY_ID
    from reports.cat.config import CatConfig

    events = load_events(settings, day)
    ids = trouble.new_order_roe_ids(events, ACCOUNTS_BY_ID, CatConfig.from_settings(settings))
    return trouble.inject_cat_rejection(Path(str(settings.get("cat.twin.dir", settings.home / "cat_twin"))), ids,
                                        seed)


def _ha_available() -> bool:
    """HA needs the drill code and OpenSSH's sshd (the drill reaches its colo hosts over real SSH)."""
    import shutil

    try:
        import flows.jobs.ha_drill  # noqa: F401
    except ImportError:
        return False
    return Path("/usr/sbin/sshd").exists() or shutil.which("sshd") is not None


_REPORT_DIRS = {
    "flow:recon": "recon", "flow:cat": "cat", "flow:retention": "retention", "flow:ha-drill": "ha",
    "flow:regsho-report": "regsho", "flow:locates": "regsho", "flow:clock-report": "clock",
    "flow:regsho-closeout": "regsho", "runaway account trip": "kills", **COMPLIANCE_DIRS,
}


def _reports_for(step: str, rep: Path) -> list[str]:
    if step == "flow:ops-report":
        p = rep / "ops-report.html"
        return [str(p)] if p.exists() else []
    sub = _REPORT_DIRS.get(step)
    if not sub or not (rep / sub).is_dir():
        return []
    files = sorted(p for p in (rep / sub).iterdir() if p.is_file() and p.suffix in (".html", ".meta", ".json", ".md"))
    return [str(p) for p in files[:3]]
