"""Benchmarks run in a temporary COLO_OPS_HOME of their own: nothing they write lands in the checkout's var/
(a user's data home) except the results in var/bench."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import orjson

from bench.__main__ import available
from bench.common import temp_home

ROOT = Path(__file__).resolve().parents[2]


def _snapshot(var: Path) -> dict[str, tuple[int, int]]:
    """Every file under var/ but var/bench and var/build: (size, mtime), so an added or rewritten file shows."""
    if not var.exists():
        return {}
    out = {}
    for p in var.rglob("*"):
        rel = p.relative_to(var)
        # var/bench holds the results; var/build the reference C core that `make refcore` rebuilds
        if rel.parts[0] in ("bench", "build") or not p.is_file():
            continue
        st = p.stat()
        out[str(rel)] = (st.st_size, st.st_mtime_ns)
    return out


def test_every_benchmark_main_when_imported_then_runs_in_a_temporary_home() -> None:
    for name in available():
        main = importlib.import_module(f"bench.bench_{name}").main
        assert getattr(main, "bench_temp_home", False), f"bench_{name}.main is not decorated with bench_main"


def test_temp_home_when_left_then_environment_restored_and_directory_removed(tmp_path: Path) -> None:
    before = os.environ.get("COLO_OPS_HOME")
    with temp_home("x") as home:
        assert os.environ["COLO_OPS_HOME"] == str(home) and home.is_dir()
        (home / "audit").mkdir()
    assert os.environ.get("COLO_OPS_HOME") == before and not home.exists()


def test_control_bench_when_run_from_the_checkout_then_var_is_untouched_but_results_written(tmp_path: Path) -> None:
    # The control benchmark sends kill round trips through the audited client: the one that once wrote
    # var/audit. Tiny counts keep it to a few seconds.
    env = {k: v for k, v in os.environ.items() if k != "COLO_OPS_HOME"}
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env.update(BENCH_CONTROL_N="20", BENCH_CONTROL_PAIRS="5", BENCH_CONTROL_COLD="1", TMPDIR=str(tmpdir),
               COLO_OPS_BENCH_RESULTS=str(tmp_path / "results"))
    before = _snapshot(ROOT / "var")
    run = subprocess.run([sys.executable, "-m", "bench", "control"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "FAILED" not in run.stdout, run.stdout + run.stderr
    assert _snapshot(ROOT / "var") == before  # no audit log, twin state or keys beside a user's records
    doc = orjson.loads((tmp_path / "results" / "control.json").read_bytes())
    assert doc["bench"] == "control" and doc["figures"]
    assert list(tmpdir.iterdir()) == []  # the temporary home (and the bench's own temp dirs) were removed
