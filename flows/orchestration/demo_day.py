"""The main job: one whole simulated trading day, end to end, through Prefect.

    services   local Prefect server · twin core (primary [+ standby]) · drop-copy capture · clearing SFTP twin
    the day    sod-load → locates → bp-refresh → preopen-check → trading session (N orders) → eod-capture →
               clearing EOD files → regsho-report → recon → cat → retention → ha-drill → daily ops report

Every flow runs in this process against the local Prefect server, so its runs and artifacts are in the UI.
Services are child processes recorded in <home>/run/demo.json; `opsctl demo --down` stops them. The clearing
SFTP twin is a thread of this process (it serves the files the day needs while the flows run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings, load_settings

DEMO_STATE = "demo.json"
DEMO_MARKER = "DEMO_HOME"  # written into a home the demo owns; kept across runs (DEMO_STATE is not)
PREVIOUS_DIR = "previous"  # earlier demo runs of a home, moved aside whole: <home>/previous/<UTC stamp>/


@dataclass
class Step:
    name: str
    state: str = "pending"
    seconds: float = 0.0
    detail: str = ""
    reports: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    date: str
    steps: list[Step]
    prefect_ui: str
    reports_dir: str

    @property
    def ok(self) -> bool:
        return all(s.state in ("Completed", "skipped") for s in self.steps)


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


# --------------------------------------------------------------------------------------------------- services
def _record(settings: Settings, **entries: Any) -> None:
    path = settings.run_dir / DEMO_STATE
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))


def start_core(settings: Settings, day: dt.date | None, standby: bool) -> dict[str, Any]:
    """The twin core: a Binary Star primary/standby pair (two "hosts" under <home>/colo) or one node.

    The pair's endpoint files and shared keys are copied into this home, where every client, the capture, the
    flows and `corectl` look for a local core.
    """
    from core_bridge.auth import generate_keyset
    from hw.twin.launch import start_pair, start_twin
    from hw.twin.session_clock import ENV as SESSION_ENV

    if day is not None:  # the twin stamps its events on the simulated business date
        os.environ[SESSION_ENV] = day.isoformat()
    else:
        os.environ.pop(SESSION_ENV, None)
    if not standby:
        generate_keyset(settings.keys_dir)
        h = start_twin(settings.home, "primary")
        return {"primary": {"pid": h.pid, "endpoints": h.endpoints}}
    pair = start_pair(settings.home / "colo")
    # Publish the pair where every tool looks for a local core: <home>/keys and <home>/run/twin-<node>.json.
    shutil.copytree(pair.keys_dir, settings.keys_dir, dirs_exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for node in ("primary", "standby"):
        h = pair.node(node)
        shutil.copyfile(h.endpoint_file, settings.run_dir / f"twin-{node}.json")
        out[node] = {"pid": h.pid, "endpoints": h.endpoints}
    return out


def start_capture(settings: Settings) -> int:
    log = (settings.run_dir / "capture.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core_bridge.dropcopy", "--home", str(settings.home)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env=os.environ | {"COLO_OPS_HOME": str(settings.home)},
    )
    deadline = time.monotonic() + 20
    status = settings.run_dir / "capture.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"capture exited ({proc.returncode}); see {settings.run_dir / 'capture.log'}")
        if status.exists() and json.loads(status.read_text()).get("pid") == proc.pid:
            return proc.pid
        time.sleep(0.1)
    raise TimeoutError("capture did not report status within 20 s")


def start_clearing_sftp(settings: Settings) -> Any:
    """The clearing firm's embedded SFTP server over <home>/clearing_twin/served, with our known_hosts."""
    from hw.clearing_twin.sftp_server import EmbeddedSftpServer, generate_key

    keys = settings.keys_dir / "clearing_sftp"
    host_key = generate_key(keys / "host_key") if not (keys / "host_key").exists() else _load_key(keys / "host_key")
    user_key = generate_key(keys / "user_key") if not (keys / "user_key").exists() else _load_key(keys / "user_key")
    served = settings.home / "clearing_twin" / "served"
    served.mkdir(parents=True, exist_ok=True)
    server = EmbeddedSftpServer(served, host_key, [user_key], username="colo")
    server.start()
    (keys / "known_hosts").write_text(server.known_hosts_line() + "\n")
    os.environ.update({
        "COLO_OPS_CLEARING_SOURCE": "sftp",
        "COLO_OPS_CLEARING_SFTP_HOST": "127.0.0.1",
        "COLO_OPS_CLEARING_SFTP_PORT": str(server.port),
        "COLO_OPS_CLEARING_SFTP_USER": "colo",
        "COLO_OPS_CLEARING_SFTP_KEY": str(keys / "user_key"),
        "COLO_OPS_CLEARING_KNOWN_HOSTS": str(keys / "known_hosts"),
    })
    return server


def _load_key(path: Path) -> Any:
    import paramiko

    return paramiko.ECDSAKey.from_private_key_file(str(path))


def _active_api_url() -> str | None:
    """The Prefect API this process already talks to: from the environment, or from an active settings
    context (the tests' harness sets one without touching the environment). Prefect is not imported here
    when nothing has imported it yet: its settings are read once at import, and `ensure_server` must set
    the environment first."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect" not in sys.modules:
        return None
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def stop_all(settings: Settings | None = None, *, prefect: bool = True) -> list[str]:
    """Stop every service the demo or `opsctl twin up` started under this home."""
    from flows.orchestration.local_server import stop_server
    from hw.twin.launch import stop_twin

    settings = settings or load_settings()
    stopped = []
    path = settings.run_dir / DEMO_STATE
    doc = json.loads(path.read_text()) if path.exists() else {}
    pid = doc.get("capture_pid")
    if pid:
        try:
            os.kill(int(pid), signal.SIGTERM)
            stopped.append(f"capture (pid {pid})")
        except ProcessLookupError:
            pass
    for node, info in (doc.get("core") or {}).items():
        try:
            os.kill(int(info["pid"]), signal.SIGTERM)
            stopped.append(f"twin {node} (pid {info['pid']})")
        except (ProcessLookupError, KeyError, ValueError, TypeError):
            pass
    for node in ("standby", "primary"):
        if stop_twin(settings.home, node):
            stopped.append(f"twin {node}")
    if prefect and stop_server(settings):
        stopped.append("prefect server")
    path.unlink(missing_ok=True)
    return stopped


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


def trade_session(settings: Settings, day: dt.date, n_orders: int, seed: int,
                  on_progress: Callable[[int], None]) -> dict[str, Any]:
    """Drive N orders through the twin's live order-flow generator, then expire DAY orders at the close."""
    from core_bridge.client import CoreClient

    # The twin's generator emits exactly `rate` order actions per second of its own clock, so the session
    # length is n_orders / rate; progress is reported against that.
    from core_bridge.protocol import TELEMETRY_TOPIC_HEALTH
    from core_bridge.telemetry import TelemetrySubscriber

    rate = max(50, min(1000, n_orders // 10))
    sub = TelemetrySubscriber(settings.core_endpoint("telemetry"), settings.keys_dir, "monitor",
                              topics=(TELEMETRY_TOPIC_HEALTH,))
    samples: list[dict[str, Any]] = []
    try:
        with CoreClient.from_settings(identity="operator", operator="demo", settings=settings) as c:
            c.sim("start_flow", reason="demo session", rate=rate, seed=seed)
            t0 = time.monotonic()
            duration = n_orders / rate
            while (elapsed := time.monotonic() - t0) < duration:
                on_progress(min(n_orders, int(elapsed * rate)))
                got = sub.recv(min(250, max(1, (duration - elapsed) * 1000)))
                if got is not None and isinstance(got[1].get("gate_latency_ns"), dict):
                    samples.append(got[1]["gate_latency_ns"])
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


def publish_clearing_eod(settings: Settings, day: dt.date) -> list[str]:
    """The clearer's EOD positions and trade file, from what the core actually traded (the loaded journal)."""
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
    root = settings.home / "clearing_twin" / "served"
    _, paths = publisher.publish_eod(root, day, initial_book(), twin_fills, settlement_date(day))
    return [str(p) for p in paths]


def _state_name(result: Any) -> str:
    from prefect.states import State

    if isinstance(result, State):
        return str(result.name)
    return "Completed"


def run_demo(
    date: dt.date | None = None,
    n_orders: int = 2000,
    seed: int = 20261120,
    *,
    with_ha: bool = True,
    on_step: Callable[[Step], None] | None = None,
    on_orders: Callable[[int], None] | None = None,
) -> DemoResult:
    saved_env = dict(os.environ)
    try:
        return _run_demo(date, n_orders, seed, with_ha=with_ha, on_step=on_step, on_orders=on_orders)
    finally:
        # The day's wiring (clearing SFTP endpoint, session clock) lives in this process's environment for the
        # flows to read; put it back so whatever runs next in this process sees its own configuration.
        for key in set(os.environ) - set(saved_env):
            del os.environ[key]
        os.environ.update(saved_env)


def _run_demo(
    date: dt.date | None,
    n_orders: int,
    seed: int,
    *,
    with_ha: bool,
    on_step: Callable[[Step], None] | None,
    on_orders: Callable[[int], None] | None,
) -> DemoResult:
    from flows.orchestration.local_server import ensure_server

    settings = load_settings()
    day = date or default_demo_date()
    os.environ["COLO_OPS_HOME"] = str(settings.home)
    stop_all(settings, prefect=False)  # a previous demo's services, if any
    moved = prepare_home(settings, day)
    settings.run_dir.mkdir(parents=True, exist_ok=True)

    steps: list[Step] = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        s = Step(name, "running")
        steps.append(s)
        if on_step:
            on_step(s)
        t0 = time.perf_counter()
        try:
            out = fn()
            s.state = _state_name(out) if name.startswith("flow:") else "Completed"
            if isinstance(out, dict):
                s.detail = ", ".join(f"{k}={v}" for k, v in list(out.items())[:4])
            return out
        except Exception as exc:
            s.state = "Failed"
            s.detail = f"{type(exc).__name__}: {exc}"[:300]
            return None
        finally:
            s.seconds = round(time.perf_counter() - t0, 2)
            if on_step:
                on_step(s)

    if moved is not None:
        steps.append(Step("earlier demo of this day", "Completed", detail=f"moved to {moved}"))
        if on_step:
            on_step(steps[-1])
    api_url = _active_api_url()
    if api_url:  # an existing server (a deployment, or the tests' harness)
        ui = api_url.removesuffix("/api")
    else:
        info = step("prefect server", lambda: ensure_server(settings))
        ui = info.ui_url if info else ""
    ha_available = with_ha and _ha_available()
    core = step("twin core" + (" pair" if ha_available else ""), lambda: start_core(settings, day, ha_available))
    _record(settings, date=day.isoformat(), core=core)
    cap = step("capture", lambda: start_capture(settings))
    _record(settings, capture_pid=cap)
    sftp = step("clearing SFTP twin", lambda: start_clearing_sftp(settings))
    step("clearing SOD files", lambda: publish_clearing_sod(settings, day))

    from flows.controls.limits import push_limits
    from flows.jobs.bp_refresh import bp_refresh
    from flows.jobs.cat import cat
    from flows.jobs.eod_capture import eod_capture
    from flows.jobs.locates import locates
    from flows.jobs.ops_report import ops_report
    from flows.jobs.preopen_check import preopen_check
    from flows.jobs.recon import recon
    from flows.jobs.regsho_report import regsho_report
    from flows.jobs.retention import retention
    from flows.jobs.sod_load import sod_load

    d = day.isoformat()
    as_of = dt.datetime(day.year, day.month, day.day, 11, 15, tzinfo=dt.UTC).isoformat()  # 06:15 ET
    try:
        step("approved 15c3-5 limits", lambda: push_limits(settings))
        step("flow:sod-load", lambda: sod_load(date=d, return_state=True))
        step("flow:locates", lambda: locates(date=d, return_state=True))
        step("flow:bp-refresh", lambda: bp_refresh(date=d, as_of=as_of, return_state=True))
        step("flow:preopen-check", lambda: preopen_check(date=d, return_state=True))
        step("trading session", lambda: trade_session(settings, day, n_orders, seed, on_orders or (lambda n: None)))
        step("flow:eod-capture", lambda: eod_capture(date=d, return_state=True))
        step("clearing EOD files", lambda: publish_clearing_eod(settings, day))
        step("flow:regsho-report", lambda: regsho_report(date=d, return_state=True))
        step("flow:recon", lambda: recon(date=d, return_state=True))
        step("flow:cat", lambda: cat(date=d, return_state=True))
        step("flow:retention", lambda: retention(date=d, return_state=True))
        if ha_available:
            from flows.jobs.ha_drill import ha_drill

            step("flow:ha-drill", lambda: ha_drill(date=d, return_state=True))
        else:
            steps.append(Step("flow:ha-drill", "skipped", detail="no OpenSSH sshd here (make demo installs it)"))
        flows_state = [
            {"flow": s.name.removeprefix("flow:"), "state": s.state} for s in steps if s.name.startswith("flow:")
        ]
        step("flow:ops-report", lambda: ops_report(date=d, flows=flows_state, return_state=True))
    finally:
        if sftp is not None:
            sftp.stop()
    rep = settings.reports_dir(d)
    for s in steps:
        s.reports = _reports_for(s.name, rep)
    return DemoResult(d, steps, ui, str(rep))


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
    "flow:regsho-report": "regsho", "flow:locates": "regsho",
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
