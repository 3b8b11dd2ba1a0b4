"""The chaos monkey hits every kind of process at least once, even when the day outruns its drawn kill times."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from flows.orchestration.chaos import TARGETS, Monkey
from tests.polling import wait_for


def test_monkey_when_the_drawn_times_are_spent_then_every_missing_kind_is_killed_once(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    procs = {t: subprocess.Popen(["sleep", "300"]) for t in TARGETS}
    try:
        for t, p in procs.items():
            (tmp_path / "run" / f"supervise-{t}.json").write_text(json.dumps({"child_pid": p.pid}))
        monkey = Monkey(tmp_path, 7, [0.0], lambda: "after-session", wanted=1, coverage_pause_s=0.01).start()
        wait_for(lambda: len(monkey.kills) == len(TARGETS), timeout=30, what="a kill of every kind")
        kills = monkey.finish(0.0)
        assert sorted(k.target for k in kills) == sorted(TARGETS)
        assert all(procs[k.target].wait(10) == -9 for k in kills)  # each a real SIGKILL of that process
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
