"""Samples of a set of named processes: resident memory, open file descriptors, threads, CPU.

A soak samples every service every few seconds by name ("capture", "twin-primary", ...), resolving the name
to a pid each time: a service under its supervisor (hw/supervise.py) is sampled as its current child, and a
restart shows as a new pid in the samples rather than as a gap.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import psutil


@dataclass(frozen=True)
class Sample:
    t_s: float  # seconds since the sampler started
    name: str
    pid: int
    rss_mib: float
    fds: int
    threads: int
    cpu_pct: float  # since this process's previous sample (100 = one core)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Sampler:
    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._procs: dict[int, psutil.Process] = {}

    def sample(self, pids: Mapping[str, int | None]) -> list[Sample]:
        """One sample of each named pid that is running (a pid that is gone is left out)."""
        t = round(time.monotonic() - self._t0, 3)
        out = []
        for name, pid in sorted(pids.items()):
            if pid is None:
                continue
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)  # the first call only starts the interval
                with proc.oneshot():
                    out.append(Sample(t, name, pid, round(proc.memory_info().rss / 2**20, 2), proc.num_fds(),
                                      proc.num_threads(), round(proc.cpu_percent(None), 1)))
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                self._procs.pop(pid, None)
        return out


def series(samples: list[Sample], name: str, metric: str) -> tuple[list[float], list[float]]:
    """(times, values) of one process's metric."""
    pts = [(s.t_s, float(getattr(s, metric))) for s in samples if s.name == name]
    return [t for t, _ in pts], [v for _, v in pts]
