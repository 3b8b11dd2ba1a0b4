"""`make chaos`: the demo's day twice with the same seed, side by side in two processes — one without
faults, one with at least 30 kill -9 of a random process at a random time — and the day's outputs compared.

    targets    capture, twin primary, twin standby, Prefect worker, risk watcher, clearing SFTP twin, the FIX
               drop copy (`opsctl fix-dropcopy`): each under its supervisor (hw/supervise.py), which restarts it
               with backoff; a target that is not running (yet) is not drawn
    schedule   `random.Random(seed)`: kill times uniform over SPAN_S (most of a day here), a target drawn
               among those that are up (a process still recovering from its last kill is not shot again).
               The twin's *active* node is not killed before the session's events are all captured and
               loaded (after eod-capture): its simulated strategies live in that process, and a core that
               dies mid-session makes a different day by definition (working orders cancelled, the firm
               HALTED until an operator resumes), which no comparison could call identical. The standby and
               every other process are fair game from the start
    recovery   per kill: from the kill to the replacement being ready (the service's own status file names
               the new pid; the worker heartbeating to Prefect again), polled every 50 ms
    reruns     a flow that fails because something it needed was just killed is rerun, up to 4 attempts,
               as the runbook's `opsctl rerun` would (flows are idempotent per date); a run that a killed
               worker had claimed but never started is given up after FLOW_TIMEOUT_S and rerun
    compared   journal, store rows, CAT and recon files, recon breaks (flows/reliability/compare.py); the
               journal's hash chain verifies on both sides
    report     var/reports/soak/chaos.html and chaos.json

`CHAOS_KILLS` (default 32), `CHAOS_SEED`, `CHAOS_ORDERS` (default 3,000 at 100/s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from core_bridge.settings import load_settings
from flows.orchestration.soak import (
    CHECKOUT_REPORTS,
    SOAK_DATE,
    Watch,
    _json,
    finish,
    start_prefect,
    start_watchers,
    stop_services,
    supervised,
)
from flows.reliability import compare, prefect_db

KILLS = 32
ORDERS = 3000
RATE = 100
FLOW_ATTEMPTS = 4
# A run the killed worker had claimed but not started stays PENDING for ever: give up on it and rerun.
FLOW_TIMEOUT_S = 240.0
RECOVERY_TIMEOUT_S = 120.0
COVERAGE_PAUSE_S = 5.0  # between the evening's kills of kinds the drawn times missed
EVENING_MAX_S = 300.0  # how long the day is kept up after its last step for those kills
TARGETS = ("capture", "twin-primary", "twin-standby", "worker", "riskwatch", "clearing-sftp", "fix-dropcopy")
# Retries happen by design in a chaos run; none may be left stuck.
CHAOS_BUDGETS: dict[str, float] = {"capture.rewind.escalated_at_end": 0}


@dataclass
class Kill:
    n: int
    at_s: float
    target: str
    pid: int
    recovery_s: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "at_s": round(self.at_s, 2), "target": self.target, "pid": self.pid,
                "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 3), "note": self.note}


@dataclass
class DayRun:
    home: Path
    steps: list[Any]
    seconds: float
    kills: list[Kill] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ readiness
def _child(home: Path, target: str) -> int | None:
    path = supervised(home).get(target)
    pid = _json(path).get("child_pid") if path else None
    return int(pid) if isinstance(pid, int) else None


def _twin_active(home: Path) -> str | None:
    """The node that is active now (ha_status, which a passive node answers without taking over)."""
    from hw.twin.launch import read_endpoint_file, twin_request

    for node in ("primary", "standby"):
        host = home / "colo" / f"{node}-host"
        info = read_endpoint_file(host, node) or {}
        control = (info.get("endpoints") or {}).get("control")
        if not control:
            continue
        rep = twin_request(control, host / "keys", "ha_status", identity="monitor", timeout_s=1.0)
        if rep is not None and rep.ok and rep.result.get("state") == "active":
            return node
    return None


def ready(home: Path, target: str, old_pid: int, since_ns: int) -> bool:
    """The killed service's replacement is up and doing its job."""
    pid = _child(home, target)
    if pid is None or pid == old_pid:
        return False
    if target.startswith("twin-"):
        node = target.removeprefix("twin-")
        info = _json(home / "colo" / f"{node}-host" / "run" / f"twin-{node}.json")
        return info.get("pid") == pid
    if target == "worker":
        return _worker_heartbeat_after(home, since_ns)
    status = {"capture": "capture.json", "riskwatch": "riskwatch.json", "clearing-sftp": "clearing-sftp.json",
              "fix-dropcopy": "fix-dropcopy.json"}
    doc = _json(home / "run" / status[target])
    return doc.get("pid") == pid and int(doc.get("updated_ns") or since_ns + 1) > since_ns


def _worker_heartbeat_after(home: Path, since_ns: int) -> bool:
    """The restarted worker has heartbeated to the Prefect API since the kill."""
    import asyncio

    from prefect.client.orchestration import get_client

    from flows.orchestration.prefect_runs import workers

    async def check() -> bool:
        async with get_client() as client:
            found = await workers(client._client, "ops")
        for w in found:
            hb = w.get("last_heartbeat_time")
            if hb and dt.datetime.fromisoformat(str(hb).replace("Z", "+00:00")).timestamp() * 1e9 > since_ns:
                return True
        return False

    try:
        return asyncio.run(check())
    except Exception:  # the API itself may be busy: not ready yet
        return False


# ------------------------------------------------------------------------------------------ the monkey
class Monkey:
    """Kills a random supervised process at each scheduled time, and times each recovery."""

    def __init__(self, home: Path, seed: int, times_s: list[float], phase: Callable[[], str], wanted: int,
                 coverage_pause_s: float = COVERAGE_PAUSE_S) -> None:
        self.coverage_pause_s = coverage_pause_s
        self.home, self.rng, self.times, self.phase = home, random.Random(seed), sorted(times_s), phase
        self.wanted = wanted  # more times than kills are drawn: a time with nothing eligible is skipped
        self.kills: list[Kill] = []
        self._stop = threading.Event()
        self._recovering: dict[str, threading.Thread] = {}
        self._th = threading.Thread(target=self._run, name="chaos-monkey", daemon=True)
        self.t0 = 0.0

    def start(self) -> Monkey:
        self.t0 = time.monotonic()
        self._th.start()
        return self

    def eligible(self) -> list[str]:
        up = [t for t in TARGETS if _child(self.home, t) is not None and t not in self._recovering]
        if self.phase() != "after-session":
            active = _twin_active(self.home) or "primary"
            up = [t for t in up if t != f"twin-{active}"]
        return up

    def _run(self) -> None:
        for at in self.times:
            if len(self.kills) >= self.wanted or self._stop.wait(max(0.0, self.t0 + at - time.monotonic())):
                break
            self._kill_one()
        # Every kind is hit at least once: the active core node only once the session is over (its takeover
        # mid-session would make the day differ from the reference by design), so a day that ran past its
        # drawn times gets the missing kinds in the evening.
        while not self._stop.wait(self.coverage_pause_s):
            missing = [t for t in TARGETS if t not in {k.target for k in self.kills}]
            if not missing:
                return
            self._kill_one(prefer=missing)

    def _kill_one(self, prefer: list[str] | None = None) -> None:
        self._recovering = {k: th for k, th in self._recovering.items() if th.is_alive()}
        targets = self.eligible()
        if prefer is not None:
            targets = [t for t in targets if t in prefer]
        if targets:
            unhit = [t for t in targets if t not in {k.target for k in self.kills}]
            self._kill(self.rng.choice(unhit or targets))

    def _kill(self, target: str) -> None:
        pid = _child(self.home, target)
        if pid is None:
            return
        kill = Kill(len(self.kills) + 1, time.monotonic() - self.t0, target, pid, note=self.phase())
        since = time.time_ns()
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        self.kills.append(kill)
        th = threading.Thread(target=self._recover, args=(kill, since), daemon=True)
        self._recovering[target] = th
        th.start()

    def _recover(self, kill: Kill, since_ns: int) -> None:
        t0 = time.monotonic()
        deadline = t0 + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline and not self._stop.is_set():
            if ready(self.home, kill.target, kill.pid, since_ns):
                kill.recovery_s = time.monotonic() - t0
                return
            time.sleep(0.05)
        kill.note += " NOT RECOVERED"

    def finish(self, extra_s: float = RECOVERY_TIMEOUT_S) -> list[Kill]:
        """Stop scheduling; wait for the recoveries under way."""
        self._stop.set()
        self._th.join()
        deadline = time.monotonic() + extra_s
        for th in list(self._recovering.values()):
            th.join(max(0.0, deadline - time.monotonic()))
        return self.kills


# ------------------------------------------------------------------------------------------ the two days
def run_day(seed: int, orders: int, *, kills: int = 0, span_s: float = 0.0, keep: Path | None = None) -> DayRun:
    from flows.orchestration.demo_day import DayTuning, run_demo

    home = keep or Path(tempfile.mkdtemp(prefix=f"chaos-{'faults' if kills else 'ref'}-home-"))
    saved = dict(os.environ)
    os.environ.update({"COLO_OPS_HOME": str(home), "COLO_OPS_SUPERVISE": "1"})
    settings = load_settings()
    phase = {"now": "before-session"}

    def on_step(s: Any) -> None:
        if s.state != "running":
            print(f"  [{'faults' if kills else 'ref'}] {s.name}: {s.state} {s.detail}"[:170], flush=True)
        if s.name == "flow:eod-capture" and s.state == "Completed":
            phase["now"] = "after-session"

    rng = random.Random(seed ^ 0xC4A05)
    times = [rng.uniform(15.0, max(30.0, span_s * 0.95)) for _ in range(kills + kills // 4)]
    monkey = Monkey(home, seed, times, lambda: phase["now"], kills) if kills else None
    tuning = DayTuning(session_rate=RATE, reproducible=True, flow_attempts=FLOW_ATTEMPTS if kills else 1,
                       flow_timeout_s=FLOW_TIMEOUT_S,
                       on_services=lambda st: (start_watchers(st), monkey.start() if monkey else None) and None)
    t0 = time.monotonic()
    pg = ExitStack()  # the day's Prefect server on PostgreSQL (flows/reliability/prefect_db.py says why)
    os.environ[prefect_db.ENV] = pg.enter_context(prefect_db.scratch_prefect_database("colo_chaos_prefect"))
    try:
        start_prefect(settings)
        result = run_demo(SOAK_DATE, orders, seed, on_step=on_step, tuning=tuning)
        os.environ.update({"COLO_OPS_HOME": str(home), "COLO_OPS_SUPERVISE": "1"})
        if monkey is not None:  # the day is over before its last kill: keep killing in the evening
            evening_end = max(t0 + span_s * 2, time.monotonic() + EVENING_MAX_S)
            while monkey._th.is_alive() and time.monotonic() < evening_end:
                time.sleep(0.5)
        done = monkey.finish() if monkey else []
        day = DayRun(home, result.steps, time.monotonic() - t0, done)
    finally:
        if monkey is not None:
            monkey.finish(0.0)
        stop_services(settings)
        pg.close()
        os.environ.clear()
        os.environ.update(saved)
    return day


def outputs(home: Path) -> dict[str, Any]:
    """What the comparison reads from a stopped day's home."""
    import sqlalchemy as sa

    d = SOAK_DATE.isoformat()
    rep = home / "reports" / d
    files = compare.digests([rep / "cat", rep / "recon", home / "cat_twin"])
    tables: dict[str, list[dict[str, Any]]] = {}
    engine = sa.create_engine(f"sqlite:///{home / 'db' / 'colo-ops.sqlite'}")
    try:
        with engine.connect() as c:
            names = sa.inspect(c).get_table_names()
            for t in ("order_events", "sod_positions", "sod_balances", "locates", "recon_breaks", "bp_snapshots",
                      "cat_submissions", "fix_executions"):
                if t in names:
                    rows = [dict(r._mapping) for r in c.execute(sa.text(f"SELECT * FROM {t}"))]  # noqa: S608
                    if t == "order_events":
                        rows = [r for r in rows if int(r.get("etype") or 0) in compare.TRADING_ETYPES]
                    tables[t] = rows
    finally:
        engine.dispose()
    return {"files": files, "tables": tables}


def run_chaos(seed: int, n_kills: int = KILLS, orders: int = ORDERS,
              out_dir: Path = CHECKOUT_REPORTS) -> dict[str, Any]:
    from core_bridge.journal.verify import verify

    started = time.monotonic()
    # Each day in a process of its own, both at once: Prefect reads its API URL once per process, and the
    # two days together take the time of one. The kills spread over SPAN_S, the length of a day here.
    print(f"chaos: seed {seed}, {orders} orders; a day without faults beside one with {n_kills} kill -9",
          flush=True)
    ref_home = Path(tempfile.mkdtemp(prefix="chaos-ref-home-"))
    faults_home = Path(tempfile.mkdtemp(prefix="chaos-faults-home-"))
    watch = Watch(faults_home).start()
    procs = [_day_process(ref_home, seed, orders, 0), _day_process(faults_home, seed, orders, n_kills)]
    try:
        for p in procs:
            p.wait()
    finally:
        samples = watch.stop()
    ref, faulty = _day_result(ref_home), _day_result(faults_home)
    diffs, jfacts = compare.compare_journals(ref.home / "journal", faulty.home / "journal")
    oa, ob = outputs(ref.home), outputs(faulty.home)
    diffs += compare.compare_digests(oa["files"], ob["files"], "files")
    diffs += compare.compare_tables(oa["tables"], ob["tables"])
    for label, day in (("without faults", ref), ("with faults", faulty)):
        rep = verify(day.home / "journal")
        if not rep.ok:
            diffs.append(compare.Difference("journal verify", f"{label}: {rep.problems[0].where()}: "
                                                                f"{rep.problems[0].message}"))
    kills = [k.to_json() for k in faulty.kills]
    by_kind: dict[str, list[float]] = {}
    for k in faulty.kills:
        if k.recovery_s is not None:
            by_kind.setdefault(k.target, []).append(k.recovery_s)
    recovery = {t: {"kills": len(v), "p50_s": round(sorted(v)[len(v) // 2], 3), "max_s": round(max(v), 3)}
                for t, v in sorted(by_kind.items())}
    extra = {"kills": kills, "recovery": recovery, "differences": [d.to_json() for d in diffs],
             "journal": jfacts, "reference_home": str(ref.home), "files_compared": len(oa["files"]),
             "rows_compared": {t: len(r) for t, r in oa["tables"].items()}}
    doc = finish("chaos", faulty.home, started, seed, samples, faulty.steps, CHAOS_BUDGETS, extra)
    doc["growth"] = {}  # processes are killed on purpose: no growth verdict in a chaos run
    # A flow run that failed because what it needed was just killed logs its traceback in the worker's log
    # and is rerun: listed in the report, not a failure. A traceback in any service's own log still is.
    for f in doc["tracebacks"]:
        if Path(f["file"]).name == "worker.log" and not f["expected"]:
            f["expected"], f["message"] = True, f"(flow run hit by a kill, rerun) {f['message']}"[:300]
    doc["failures"] = [f for f in doc["failures"] if " grows:" not in f
                       and not (f.startswith("traceback in ") and "/worker.log:" in f)]
    doc["failures"] += [f"difference: {d.what}: {d.detail}" for d in diffs]
    doc["failures"] += [f"kill {k['n']} of {k['target']} not recovered" for k in kills if k["recovery_s"] is None]
    if len(kills) < n_kills:
        doc["failures"].append(f"only {len(kills)} kills of the {n_kills} scheduled")
    doc["failures"] += [f"no kill of {t}" for t in TARGETS if t not in {k["target"] for k in kills}]
    doc["ok"] = not doc["failures"]
    doc["summary"] = (f"{'pass' if doc['ok'] else 'FAIL'}: {len(kills)} kills, {len(diffs)} difference(s), "
                      f"{len(doc['failures'])} failure(s)")
    from reports.soak import write

    html, js = write(doc, out_dir)
    if doc["ok"]:
        shutil.rmtree(ref.home, ignore_errors=True)
        shutil.rmtree(faulty.home, ignore_errors=True)
    print(f"chaos: {doc['summary']} in {doc['minutes']:.1f} min", flush=True)
    for t, r in recovery.items():
        print(f"  recovery {t}: {r['kills']} kills, p50 {r['p50_s']:.2f} s, max {r['max_s']:.2f} s", flush=True)
    for f in doc["failures"]:
        print(f"  FAIL {f}", flush=True)
    print(f"report: {html}\n        {js}", flush=True)
    return doc


SPAN_S = 600.0


def _day_process(home: Path, seed: int, orders: int, kills: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "flows.orchestration.chaos", "--day", str(home), str(seed), str(orders), str(kills)]
    return subprocess.Popen(argv)


def _day_result(home: Path) -> DayRun:
    doc = _json(home / "chaos-day.json")
    steps = [SimpleNamespace(**st) for st in doc.get("steps", [])]
    kills = [Kill(**{k: v for k, v in kd.items()}) for kd in doc.get("kills", [])]
    return DayRun(home, steps, float(doc.get("seconds") or 0.0), kills)


def _one_day(home: Path, seed: int, orders: int, kills: int) -> int:
    """One day in this process (the `--day` form), its result in <home>/chaos-day.json."""
    day = run_day(seed, orders, kills=kills, span_s=SPAN_S, keep=home)
    doc = {"seconds": day.seconds, "kills": [k.to_json() for k in day.kills],
           "steps": [{"name": s.name, "state": s.state, "seconds": s.seconds, "detail": s.detail,
                      "as_expected": s.as_expected} for s in day.steps]}
    (home / "chaos-day.json").write_text(json.dumps(doc, indent=1))
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--day"]:
        home, seed, orders, kills = sys.argv[2:6]
        return _one_day(Path(home), int(seed), int(orders), int(kills))
    doc = run_chaos(int(os.environ.get("CHAOS_SEED") or 20261120), int(os.environ.get("CHAOS_KILLS") or KILLS),
                    int(os.environ.get("CHAOS_ORDERS") or ORDERS))
    return 0 if doc["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
