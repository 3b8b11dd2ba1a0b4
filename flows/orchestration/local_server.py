"""Start or reuse one long-running local Prefect server.

The ephemeral server costs 6-13 s per process and logs "database is locked" here; a long-running
`prefect server start` with analytics off does not. The demo and `opsctl` therefore share one server,
whose pid and URL live under COLO_OPS_HOME/run/.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core_bridge.settings import Settings, load_settings

QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


@dataclass(frozen=True)
class ServerInfo:
    url: str  # API URL, e.g. http://127.0.0.1:4200/api
    ui_url: str
    pid: int | None


def _state_file(settings: Settings) -> Path:
    return settings.run_dir / "prefect-server.json"


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as resp:  # noqa: S310 - loopback URL we built
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])


def prefect_env(settings: Settings) -> dict[str, str]:
    env = dict(QUIET_ENV)
    env["PREFECT_HOME"] = str(settings.home / "prefect")
    return env


def current(settings: Settings | None = None) -> ServerInfo | None:
    settings = settings or load_settings()
    path = _state_file(settings)
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if healthy(info["url"]):
        return ServerInfo(info["url"], info["ui_url"], info.get("pid"))
    return None


def ensure_server(settings: Settings | None = None, port: int = 4200, timeout_s: float = 90.0) -> ServerInfo:
    """Return the running local server, starting one if needed, and point this process at it."""
    settings = settings or load_settings()
    info = current(settings)
    if info is None:
        with _start_lock():
            info = _start(settings, port, timeout_s)
    use_server(info, settings)
    return info


@contextmanager
def _start_lock() -> Iterator[None]:
    """One server start at a time on this host: two homes starting together both found 4200 free, the
    second's bind failed, and its health check answered from the first's server, so both days shared one
    Prefect server (found by running `make soak` beside `make chaos`)."""
    import fcntl

    with (Path(tempfile.gettempdir()) / "colo-ops-prefect-start.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _start(settings: Settings, port: int, timeout_s: float) -> ServerInfo:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port(port)
    env = os.environ.copy() | prefect_env(settings)
    env.pop("PREFECT_API_URL", None)
    # The UI's browser code asks /ui-settings where the API is; without these it says :4200 whatever
    # port the server took (a busy 4200 gave a UI that talked to someone else's server).
    env |= {"PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}
    if db_url := os.environ.get("COLO_OPS_PREFECT_DATABASE_URL"):  # PostgreSQL (soak, chaos); else SQLite
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = db_url
    log = (settings.run_dir / "prefect-server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout_s
    while not healthy(url):
        if proc.poll() is not None:
            log_path = settings.run_dir / "prefect-server.log"
            raise RuntimeError(f"prefect server exited ({proc.returncode}); see {log_path}")
        if time.monotonic() > deadline:
            proc.terminate()
            raise TimeoutError(f"prefect server not healthy after {timeout_s:.0f} s")
        time.sleep(0.25)
    time.sleep(0.5)
    if proc.poll() is not None:  # what answered is another server on that port; ours could not bind
        raise RuntimeError(f"prefect server exited ({proc.returncode}); port {port} taken meanwhile")
    info = ServerInfo(url, f"http://127.0.0.1:{port}", proc.pid)
    _state_file(settings).write_text(json.dumps({"url": info.url, "ui_url": info.ui_url, "pid": info.pid}))
    return info


def use_server(info: ServerInfo, settings: Settings) -> None:
    for k, v in prefect_env(settings).items():
        os.environ.setdefault(k, v)
    os.environ["PREFECT_API_URL"] = info.url


def stop_server(settings: Settings | None = None) -> bool:
    settings = settings or load_settings()
    path = _state_file(settings)
    if not path.exists():
        return False
    info = json.loads(path.read_text())
    pid = info.get("pid")
    path.unlink()
    if pid:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True
    return False
