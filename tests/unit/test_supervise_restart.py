"""The supervisor (hw/supervise.py) with a real child process: a kill -9 is repaired, a SIGTERM stops both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from hw.procs import pid_alive
from hw.supervise import wrap
from tests.polling import wait_for


def _child(state: Path) -> int | None:
    try:
        return json.loads(state.read_text()).get("child_pid")
    except (OSError, ValueError):
        return None


def test_supervisor_when_child_killed_then_restarted_and_sigterm_stops_both(tmp_path: Path) -> None:
    state = tmp_path / "supervise-sleeper.json"
    argv = wrap([sys.executable, "-c", "import time; time.sleep(120)"], "sleeper", state)
    sup = subprocess.Popen(argv, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: _child(state) is not None, 10, "the first child")
        first = _child(state)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: _child(state) not in (None, first), 10, "a restarted child")
        doc = json.loads(state.read_text())
        assert doc["restarts"] == 1 and doc["history"][0]["exit"] == -signal.SIGKILL
        second = _child(state)
        assert second is not None
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(10) == 0
        wait_for(lambda: not pid_alive(second), 5, "the child to end with its supervisor")
        assert json.loads(state.read_text())["restarts"] == 1  # a stop on purpose is not restarted
    finally:
        if sup.poll() is None:
            os.killpg(sup.pid, signal.SIGKILL)
            sup.wait()
