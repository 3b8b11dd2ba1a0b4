"""Benchmark reporting: every benchmark prints `name: value unit (ratio vs same-run baseline)` lines and
writes them to var/bench/<bench>.json of the checkout. Baselines are measured in the same run, never
remembered.

Every benchmark runs in a temporary COLO_OPS_HOME of its own (`bench_main`): whatever it writes through the
default paths (audit log, twin state, keys, run files) must not land beside a user's records in var/ (a
bench once left its kill round trips in var/audit next to the demo's). Only the results leave it.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

# The checkout's var/bench, whatever COLO_OPS_HOME says (during a run it is the temporary home, removed
# afterwards); COLO_OPS_BENCH_RESULTS moves it (tests).
CHECKOUT_RESULTS = Path(__file__).resolve().parents[1] / "var" / "bench"
# The PostgreSQL server every dev/CI machine runs (trust auth); benches make scratch databases on it.
PG_ADMIN = os.environ.get("COLO_OPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test").replace("+psycopg", "")


@contextmanager
def pg_scratch(prefix: str = "colo_ops_bench") -> Iterator[str]:
    """A fresh PostgreSQL database for one measurement: yields its psycopg URL, dropped afterwards."""
    import uuid

    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')


def results_dir() -> Path:
    return Path(os.environ.get("COLO_OPS_BENCH_RESULTS") or CHECKOUT_RESULTS)


@contextmanager
def temp_home(bench: str) -> Iterator[Path]:
    """COLO_OPS_HOME set to a fresh temporary directory for the block, restored and removed after it."""
    saved = os.environ.get("COLO_OPS_HOME")
    home = Path(tempfile.mkdtemp(prefix=f"bench-{bench}-home-"))
    os.environ["COLO_OPS_HOME"] = str(home)
    try:
        yield home
    finally:
        if saved is None:
            os.environ.pop("COLO_OPS_HOME", None)
        else:
            os.environ["COLO_OPS_HOME"] = saved
        shutil.rmtree(home, ignore_errors=True)


def bench_main(bench: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Decorates a benchmark's `main`: it runs in `temp_home(bench)`, however it is started."""
    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(fn)
        def run() -> None:
            with temp_home(bench):
                fn()
        run.bench_temp_home = True  # type: ignore[attr-defined]  # checked by tests/unit/test_bench_home.py
        return run
    return wrap


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None  # same-run baseline in the same unit
    baseline_name: str = ""
    goal: str = ""  # the goal, in words, e.g. "<= 2x baseline"
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        s = f"{self.name}: {self.value:,.3f} {self.unit}"
        if self.ratio is not None:
            s += f" ({self.ratio:.2f}x vs same-run {self.baseline_name or 'baseline'} {self.baseline:,.3f} {self.unit})"
        if self.goal:
            s += f" [goal {self.goal}: {'met' if self.met else 'NOT met' if self.met is not None else '?'}]"
        return s


def emit(bench: str, figures: list[Figure]) -> None:
    for f in figures:
        print(f.line(), flush=True)
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "bench": bench,
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    (out / f"{bench}.json").write_text(json.dumps(doc, indent=2))


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]
