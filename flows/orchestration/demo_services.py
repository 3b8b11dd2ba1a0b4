"""The services a demo day (or `opsctl twin up`) runs under one data home, each a child process that outlives
the demo so the runbook can be followed afterwards: the twin core (pair), the drop-copy capture, the clearing
SFTP twin, the ops web (reports over HTTP + webhook sink) and a Prefect worker on the `ops` pool.

Every process is recorded in `<home>/run/demo.json`; each service also advertises itself in its own
`run/*.json` so flows started from any shell find it. `stop_all` stops them all (`opsctl demo --down`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings, load_settings

DEMO_STATE = "demo.json"
START_TIMEOUT_S = 30.0


def record(settings: Settings, **entries: Any) -> None:
    path = settings.run_dir / DEMO_STATE
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))


def _spawn(settings: Settings, name: str, argv: list[str],
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    from hw.supervise import enabled, wrap

    log = (settings.run_dir / f"{name}.log").open("ab")
    full_env = (env or dict(os.environ)) | {"COLO_OPS_HOME": str(settings.home)}
    if enabled(full_env):  # restarted when it dies (hw/supervise.py); its pid file names the child
        argv = wrap(argv, name, settings.run_dir / f"supervise-{name}.json")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=full_env)


def _wait_ready(proc: subprocess.Popen[bytes], name: str, log: Path, ready: Callable[[], bool],
                timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited ({proc.returncode}); see {log}")
        if ready():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not come up within {timeout_s:.0f} s; see {log}")


def _advertised(path: Path, pid: int) -> Callable[[], bool]:
    """The service's own file names `pid`, or a child of it (the service under its supervisor)."""
    from hw.procs import parent_pid

    def ready() -> bool:
        try:
            named = json.loads(path.read_text()).get("pid")
        except (OSError, ValueError):
            return False
        return isinstance(named, int) and (named == pid or parent_pid(named) == pid)

    return ready


def start_core(settings: Settings, day: Any, standby: bool) -> dict[str, Any]:
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
    proc = _spawn(settings, "capture", [sys.executable, "-m", "core_bridge.dropcopy", "--home", str(settings.home)])
    _wait_ready(proc, "capture", settings.run_dir / "capture.log",
                _advertised(settings.run_dir / "capture.json", proc.pid))
    return proc.pid


def start_clearing_sftp(settings: Settings) -> dict[str, Any]:
    """The clearing firm's SFTP twin (a process) serving <home>/clearing_twin/served, found by the flows through
    <home>/run/clearing-sftp.json."""
    from hw.clearing_twin.sftp_service import state_path

    proc = _spawn(settings, "clearing-sftp",
                  [sys.executable, "-m", "hw.clearing_twin.sftp_service", "--home", str(settings.home)])
    _wait_ready(proc, "clearing SFTP twin", settings.run_dir / "clearing-sftp.log",
                _advertised(state_path(settings.home), proc.pid))
    # The process we started (its supervisor, when supervised) is the one stop_all must stop.
    return json.loads(state_path(settings.home).read_text()) | {"pid": proc.pid}  # type: ignore[no-any-return]


def start_ops_web(settings: Settings) -> dict[str, Any]:
    """Reports over HTTP and the webhook sink (flows/orchestration/ops_web.py)."""
    from flows.orchestration.ops_web import state_path

    proc = _spawn(settings, "ops-web", [sys.executable, "-m", "flows.orchestration.ops_web", "--home",
                                        str(settings.home)])
    _wait_ready(proc, "ops web", settings.run_dir / "ops-web.log", _advertised(state_path(settings.home), proc.pid))
    return json.loads(state_path(settings.home).read_text()) | {"pid": proc.pid}  # type: ignore[no-any-return]


def start_worker(settings: Settings, api_url: str, pool: str = "ops", env: dict[str, str] | None = None) -> int:
    """A Prefect process worker on `pool`: every deployment run of the day executes in it, as in production."""
    import asyncio

    # Poll every second (default 10 s): a demo day triggers its runs one after another.
    worker_env = (env or dict(os.environ)) | {"PREFECT_API_URL": api_url, "PREFECT_WORKER_QUERY_SECONDS": "1",
                                             "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    name = f"colo-ops-{settings.home.name}-{os.getpid()}"
    proc = _spawn(settings, "worker", [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool,
                                       "--type", "process", "--name", name], env=worker_env)

    def registered() -> bool:
        return asyncio.run(_worker_online(pool, name))

    _wait_ready(proc, "prefect worker", settings.run_dir / "worker.log", registered, timeout_s=90)
    return proc.pid


async def _worker_online(pool: str, name: str) -> bool:
    from prefect.client.orchestration import get_client

    from flows.orchestration.prefect_runs import workers

    async with get_client() as client:
        found = await workers(client._client, pool)
    return any(w.get("name") == name and str(w.get("status")).upper() == "ONLINE" for w in found)


def active_api_url() -> str | None:
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


def _terminate(pid: int, timeout_s: float = 10.0) -> bool:
    """SIGTERM the process group the service leads, then wait for it (SIGKILL past the deadline)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:  # not our child: poll for its end instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def stop_all(settings: Settings | None = None, *, prefect: bool = True) -> list[str]:
    """Stop every service the demo or `opsctl twin up` started under this home."""
    from flows.orchestration.local_server import stop_server
    from hw.twin.launch import stop_twin

    settings = settings or load_settings()
    stopped = []
    path = settings.run_dir / DEMO_STATE
    doc = json.loads(path.read_text()) if path.exists() else {}
    for key, label in (("worker_pid", "prefect worker"), ("capture_pid", "capture"),
                       ("sftp_pid", "clearing SFTP twin"), ("web_pid", "ops web"),
                       ("fix_dropcopy_pid", "fix-dropcopy"), ("fix_twin_pid", "clearing FIX twin")):
        pid = doc.get(key)
        if pid and _terminate(int(pid)):
            stopped.append(f"{label} (pid {pid})")
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
