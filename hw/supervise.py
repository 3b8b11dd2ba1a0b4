"""A process supervisor for the long-running services (twin nodes, capture, risk watcher, worker, SFTP twin):
`python -m hw.supervise --name NAME --state FILE -- ARGV...` runs ARGV and restarts it when it dies.

Why a supervisor of our own: on the colo hosts and the bridge the services run under systemd
(`Restart=on-failure`, `RestartSec`, a start-rate limit); the demo, the soak and the chaos run start them as
plain child processes, and a kill -9 of one of those must be repaired the same way, or a chaos run measures
nothing. Policy (`restart_delay`): a child that exits 0 or by SIGTERM/SIGINT stopped on purpose and is not
restarted (the supervisor exits with it); any other end is restarted after a delay that doubles with each
quick death (0.2 s, 0.4 s, ... at most 10 s) and starts again from the base once the child ran for
`STABLE_S`. SIGTERM/SIGINT to the supervisor go to the child; the supervisor waits for it, then exits.

State in FILE (write + rename), for whoever measures recovery: `{pid, name, argv, child_pid, started_ns,
restarts, last_exit, history[{pid, started_ns, ended_ns, exit}]}` (the last 200 ends).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BASE_DELAY_S = 0.2
MAX_DELAY_S = 10.0
STABLE_S = 30.0
HISTORY = 200
ENV = "COLO_OPS_SUPERVISE"  # "1": the demo's service launchers start every service under this supervisor


def enabled(env: dict[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get(ENV, "") == "1"


def wrap(argv: list[str], name: str, state: Path) -> list[str]:
    """ARGV as the supervisor runs it."""
    return [sys.executable, "-m", "hw.supervise", "--name", name, "--state", str(state), "--", *argv]


def restart_delay(quick_deaths: int, base_s: float = BASE_DELAY_S, max_s: float = MAX_DELAY_S) -> float:
    """Seconds to wait before a restart after `quick_deaths` consecutive deaths within STABLE_S (>= 1)."""
    return float(min(max_s, base_s * 2 ** max(0, quick_deaths - 1)))


def stopped_on_purpose(returncode: int) -> bool:
    """Exit 0, or the end a SIGTERM/SIGINT asked for: not a failure, not restarted."""
    return returncode in (0, -signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGTERM, 128 + signal.SIGINT)


class Supervisor:
    def __init__(self, name: str, argv: list[str], state: Path) -> None:
        self.name, self.argv, self.state_path = name, argv, state
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.restarts = 0
        self.history: list[dict[str, Any]] = []
        self.started_ns = 0

    def _write(self, last_exit: int | None = None) -> None:
        doc = {"pid": os.getpid(), "name": self.name, "argv": self.argv,
               "child_pid": self.child.pid if self.child and self.child.poll() is None else None,
               "started_ns": self.started_ns, "restarts": self.restarts, "last_exit": last_exit,
               "history": self.history[-HISTORY:]}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.state_path)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        quick = 0
        while True:
            self.started_ns = time.time_ns()
            t0 = time.monotonic()
            # Inherit stdin/stdout/stderr: the child logs where the supervisor was told to.
            self.child = subprocess.Popen(self.argv)
            self._write()
            rc = self.child.wait()
            self.history.append({"pid": self.child.pid, "started_ns": self.started_ns, "ended_ns": time.time_ns(),
                                 "exit": rc})
            if self.stopping or stopped_on_purpose(rc):
                self._write(rc)
                return 0 if stopped_on_purpose(rc) or self.stopping else rc
            quick = quick + 1 if time.monotonic() - t0 < STABLE_S else 1
            delay = restart_delay(quick)
            sys.stderr.write(f"supervise[{self.name}]: pid {self.child.pid} ended ({rc}); restart in {delay:.1f} s\n")
            sys.stderr.flush()
            self.restarts += 1
            self._write(rc)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(min(0.05, delay))
            if self.stopping:
                return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.supervise", description="restart a service when it dies")
    ap.add_argument("--name", required=True, help="service name (logs, state file)")
    ap.add_argument("--state", type=Path, required=True, help="JSON state file (child pid, restarts, history)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the service's argv")
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command to supervise (give it after --)")
    return Supervisor(a.name, cmd, a.state).run()


if __name__ == "__main__":
    raise SystemExit(main())
