"""`make soak`: a compressed trading day of at least 20 minutes with every service up, watched for leaks,
runaway retry loops and unhandled exceptions.

    services   the demo's day (demo_day.run_demo): Prefect server and worker running the day's deployments,
               the twin pair, the capture, the clearing SFTP twin, the ops web, plus the risk watcher and the
               exporter; every service under its supervisor (hw/supervise.py)
    the day    the demo's day with its session stretched to fill the run (SOAK_RATE orders/s) and bp-refresh
               triggered through its deployment every BP_EVERY_S of the session (the 5-minute schedule on an
               accelerated clock); after the day the services stay up until the run's length is reached
    sampling   every SAMPLE_S seconds each process's RSS, open fds, threads and CPU (flows/reliability/sampling)
    verdict    fails when a metric grows over the second half (flows/reliability/slope, tolerances there), a
               retry counter is over its budget (flows/reliability/budgets), a log holds a traceback that is
               not the day's seeded trouble (flows/reliability/logscan), or a step of the day failed
    report     var/reports/soak/soak.html (a chart per process) and soak.json (reports/soak.py)

`SOAK_MINUTES` (default 22, at least 20 unless set) shortens it for a quick look; `SOAK_SEED`. The run uses
a temporary data home of its own, removed after a passing run (kept, and named in the report, otherwise).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings, load_settings
from flows.reliability import budgets, logscan, prefect_db, slope
from flows.reliability.sampling import Sample, Sampler, series

DEFAULT_MINUTES = 22.0
SAMPLE_S = 5.0
SOAK_RATE = 100  # orders/s of the stretched session
DAY_OVERHEAD_S = 330.0  # the demo's day without its session, measured here (services, flows, reports)
BP_EVERY_S = 60.0
PREFECT_START_S = 300.0
SOAK_DATE = dt.date(2026, 11, 20)
CHECKOUT_REPORTS = Path(__file__).resolve().parents[2] / "var" / "reports" / "soak"
# Exceptions the day raises on purpose (demo_trouble.py): the corrupt balances file sod-load rejects.
EXPECTED_EXCEPTIONS = ("FileRejectedError",)


# ------------------------------------------------------------------------------------------ services
def corectl() -> list[str]:
    exe = Path(sys.executable).with_name("corectl")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "core_bridge.cli.app"]


def _free_port() -> int:
    from hw.twin.launch import free_ports

    return free_ports(1)[0]


def start_watchers(settings: Settings) -> dict[str, Any]:
    """The risk watcher and the exporter, as the on-call host runs them (supervised like the rest)."""
    from flows.orchestration.demo_services import _spawn, record

    ports = {"riskwatch": _free_port(), "exporter": _free_port()}
    rw = _spawn(settings, "riskwatch", [*corectl(), "riskwatch", "--port", str(ports["riskwatch"])])
    ex = _spawn(settings, "exporter", [*corectl(), "--key", "monitor", "exporter", "--port", str(ports["exporter"])])
    record(settings, riskwatch_pid=rw.pid, exporter_pid=ex.pid, exporter_port=ports["exporter"],
           riskwatch_port=ports["riskwatch"])
    return {"riskwatch_pid": rw.pid, "exporter_pid": ex.pid, "exporter_port": ports["exporter"]}


def start_prefect(settings: Settings) -> None:
    """The day's Prefect server, started before the day with more patience than the demo has: on this shared
    2-core host a server once took over the demo's 90 s to answer while other runs were busy."""
    from flows.orchestration.local_server import ensure_server

    ensure_server(settings, timeout_s=PREFECT_START_S)


def _json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def supervised(home: Path) -> dict[str, Path]:
    """Service name -> its supervisor's state file."""
    out = {p.stem.removeprefix("supervise-"): p for p in (home / "run").glob("supervise-*.json")}
    for p in (home / "colo").glob("*-host/run/supervise-twin-*.json"):
        out[p.stem.removeprefix("supervise-")] = p
    return out


def service_pids(home: Path) -> dict[str, int | None]:
    """Every service of the day by name -> the pid doing the work (a supervisor's current child)."""
    pids: dict[str, int | None] = {}
    for name, path in supervised(home).items():
        pids[name] = _json(path).get("child_pid")
    server = _json(home / "run" / "prefect-server.json").get("pid")
    if server:
        pids["prefect-server"] = int(server)
    return pids


def restarts(home: Path) -> dict[str, int]:
    return {name: int(_json(p).get("restarts") or 0) for name, p in supervised(home).items()}


def stop_services(settings: Settings) -> list[str]:
    from flows.orchestration.demo_services import DEMO_STATE, _terminate, stop_all

    doc = _json(settings.run_dir / DEMO_STATE)
    stopped = []
    for key in ("riskwatch_pid", "exporter_pid"):
        if doc.get(key) and _terminate(int(doc[key])):
            stopped.append(key)
    return stopped + stop_all(settings, prefect=True)


class Watch:
    """Samples every service in a thread until stopped."""

    def __init__(self, home: Path, every_s: float = SAMPLE_S) -> None:
        self.home, self.every_s = home, every_s
        self.sampler = Sampler()
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, name="soak-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples += self.sampler.sample(service_pids(self.home))

    def start(self) -> Watch:
        self._th.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._th.is_alive():
            self._th.join()
        return self.samples


# ------------------------------------------------------------------------------------------ verdicts
def growth_verdicts(samples: list[Sample]) -> dict[str, list[slope.Growth]]:
    out: dict[str, list[slope.Growth]] = {}
    for name in sorted({s.name for s in samples}):
        out[name] = [slope.growth_test(m, *series(samples, name, m)) for m in slope.TOLERANCES]
    return out


def observed_counters(home: Path) -> dict[str, float | None]:
    obs = budgets.capture_counters(_json(home / "run" / "capture.json"))
    port = _json(home / "run" / "demo.json").get("exporter_port")
    text = ""
    if port:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{int(port)}/metrics", timeout=5) as r:  # noqa: S310
                text = r.read().decode()
        except OSError:
            text = ""
    obs["exporter.colo_core_capture_rewind_failures_total"] = budgets.prom_value(
        text, "colo_core_capture_rewind_failures_total")
    core = _json(home / "run" / "riskwatch.json").get("core")
    obs["riskwatch.core_outages"] = float(core["outages"]) if isinstance(core, dict) and "outages" in core else None
    obs["supervisor.restarts"] = float(sum(restarts(home).values()))
    return obs


def log_files(home: Path) -> list[Path]:
    return sorted({*home.glob("run/*.log"), *home.glob("colo/*-host/run/*.log")})


def budget_rows(obs: dict[str, float | None], limits: dict[str, float]) -> list[dict[str, Any]]:
    over = {o.counter for o in budgets.check(obs, limits)}
    return [{"counter": k, "value": obs.get(k), "budget": v, "over": k in over} for k, v in sorted(limits.items())]


def verdict(doc: dict[str, Any]) -> list[str]:
    """Why the run failed (empty: it passed)."""
    fails = [f"{p} {g.metric} grows: {g.growth:+.1f} over the second half (tolerance {g.tolerance:.1f})"
             for p, gs in doc["_growth"].items() for g in gs if g.failed]
    fails += [f"retry budget: {b['counter']} = {b['value']} (budget {b['budget']:g})" for b in doc["budgets"]
              if b["over"]]
    fails += [f"traceback in {f['file']}:{f['line']}: {f['exception']}: {f['message']}" for f in doc["tracebacks"]
              if not f["expected"]]
    fails += [f"step {s['name']} ended {s['state']}" for s in doc["steps"] if not s["as_expected"]]
    return fails


def finish(kind: str, home: Path, started: float, seed: int, samples: list[Sample], steps: list[Any],
           limits: dict[str, float], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's document (without writing it)."""
    growth = growth_verdicts(samples)
    doc: dict[str, Any] = {
        "kind": kind, "date": SOAK_DATE.isoformat(), "seed": seed, "sample_s": SAMPLE_S,
        "minutes": round((time.monotonic() - started) / 60, 2), "home": str(home),
        "processes": sorted(growth), "samples": [s.to_json() for s in samples],
        "growth": {p: [g.to_json() for g in gs] for p, gs in growth.items()}, "_growth": growth,
        "budgets": budget_rows(observed_counters(home), limits),
        "tracebacks": [f.to_json() for f in logscan.scan_files(log_files(home), EXPECTED_EXCEPTIONS)],
        "steps": [{"name": s.name, "state": s.state, "seconds": s.seconds, "detail": s.detail,
                   "as_expected": s.as_expected} for s in steps],
        "restarts": restarts(home),
        **(extra or {}),
    }
    doc["failures"] = verdict(doc)
    doc["ok"] = not doc["failures"]
    doc.pop("_growth")
    rss = {p: next((g["slope_per_h"] for g in gs if g["metric"] == "rss_mib"), None) for p, gs in doc["growth"].items()}
    doc["rss_slope_mib_per_h"] = rss
    doc["summary"] = (f"{'pass' if doc['ok'] else 'FAIL'}: {len(doc['processes'])} processes, {len(samples)} samples, "
                      f"{len(doc['failures'])} failure(s)")
    return doc


# ------------------------------------------------------------------------------------------ the soak
def accelerated_bp_refresh(day: dt.date, session_s: float) -> tuple[Callable[[int], None], Callable[[], int]]:
    """An on_orders callback that triggers bp-refresh every BP_EVERY_S of the session (in a thread: the
    session's loop must not wait for a flow run), with as_of on the compressed 09:30-16:00 clock."""
    from flows.orchestration.demo_day import run_deployment_and_wait

    state = {"t0": 0.0, "next": 0.0, "runs": 0, "busy": False}
    open_utc = dt.datetime.combine(day, dt.time(14, 30), dt.UTC)

    def tick(_orders: int) -> None:
        now = time.monotonic()
        if not state["t0"]:
            state["t0"], state["next"] = now, now + BP_EVERY_S
        if now < state["next"] or state["busy"]:
            return
        state["next"] = now + BP_EVERY_S
        as_of = open_utc + dt.timedelta(seconds=(now - state["t0"]) * 6.5 * 3600 / max(1.0, session_s))

        def run() -> None:
            state["busy"] = True
            try:
                run_deployment_and_wait("bp-refresh", {"date": day.isoformat(), "as_of": as_of.isoformat()})
                state["runs"] += 1
            finally:
                state["busy"] = False

        threading.Thread(target=run, name="bp-refresh", daemon=True).start()

    return tick, lambda: int(state["runs"])


def run_soak(minutes: float, seed: int, out_dir: Path = CHECKOUT_REPORTS) -> dict[str, Any]:
    from flows.orchestration.demo_day import DayTuning, run_demo

    home = Path(tempfile.mkdtemp(prefix="soak-home-"))
    saved = dict(os.environ)
    os.environ.update({"COLO_OPS_HOME": str(home), "COLO_OPS_SUPERVISE": "1"})
    settings = load_settings()
    session_s = max(60.0, minutes * 60 - DAY_OVERHEAD_S)
    started = time.monotonic()
    watch = Watch(home).start()
    tick, bp_runs = accelerated_bp_refresh(SOAK_DATE, session_s)
    print(f"soak: {minutes:.1f} min, session {session_s:.0f} s at {SOAK_RATE}/s, home {home}", flush=True)
    pg = ExitStack()  # the day's Prefect server on PostgreSQL (flows/reliability/prefect_db.py says why)
    os.environ[prefect_db.ENV] = pg.enter_context(prefect_db.scratch_prefect_database("colo_soak_prefect"))
    try:
        start_prefect(settings)
        result = run_demo(SOAK_DATE, int(session_s * SOAK_RATE), seed, on_orders=tick,
                          on_step=lambda s: print(f"  {s.name}: {s.state} {s.detail}"[:160], flush=True)
                          if s.state != "running" else None,
                          tuning=DayTuning(session_rate=SOAK_RATE, on_services=start_watchers))
        os.environ.update({"COLO_OPS_HOME": str(home), "COLO_OPS_SUPERVISE": "1"})
        while time.monotonic() - started < minutes * 60:  # the evening: services up, nothing scheduled
            time.sleep(1.0)
        samples = watch.stop()
        doc = finish("soak", home, started, seed, samples, result.steps, budgets.SOAK_BUDGETS,
                     {"bp_refresh_runs": bp_runs(), "session_s": session_s, "orders": int(session_s * SOAK_RATE)})
    finally:
        watch.stop()
        stop_services(settings)
        pg.close()
        os.environ.clear()
        os.environ.update(saved)
    from reports.soak import write

    html, js = write(doc, out_dir)
    if doc["ok"]:
        shutil.rmtree(home, ignore_errors=True)
    print_summary(doc, html, js)
    return doc


def print_summary(doc: dict[str, Any], html: Path, js: Path) -> None:
    print(f"{doc['kind']}: {doc['summary']} in {doc['minutes']:.1f} min", flush=True)
    for p, v in sorted(doc["rss_slope_mib_per_h"].items()):
        level = next((g["level"] for g in doc["growth"][p] if g["metric"] == "rss_mib"), 0.0)
        print(f"  rss_slope {p}: {v:+.2f} MiB/h (level {level:.1f} MiB)", flush=True)
    for f in doc["failures"]:
        print(f"  FAIL {f}", flush=True)
    print(f"report: {html}\n        {js}", flush=True)


def main() -> int:
    minutes = float(os.environ.get("SOAK_MINUTES") or DEFAULT_MINUTES)
    doc = run_soak(minutes, int(os.environ.get("SOAK_SEED") or 20261120))
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
