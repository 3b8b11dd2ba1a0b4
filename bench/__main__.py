"""`python -m bench [NAME]`: run every bench/bench_<name>.py (or one). Each module has `main() -> None`,
decorated with bench.common.bench_main (a temporary COLO_OPS_HOME of its own), which measures, then calls
bench.common.emit(name, figures) (var/bench/<name>.json of the checkout).

Run all, each benchmark gets a process of its own, started after the previous one's dirty pages are
flushed (`os.sync`): one benchmark's imports, threads, heap and pending writeback (the archive bench writes
~4.7 GB) must not land on the next one's figures."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

# Run last: it writes and deletes ~4.7 GB, and for a while after that the VM's memory reclaimer and the
# file system's cleanup take CPU from whatever runs next (capture measured 0.90 M/s right after it,
# 1.07-1.29 M/s otherwise).
LAST = ("archive",)


def available() -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    return [n for n in names if n not in LAST] + [n for n in names if n in LAST]


def main(argv: list[str]) -> int:
    names = available()
    wanted = argv[:1] or names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    if len(wanted) > 1:
        failed = 0
        for name in wanted:
            os.sync()
            failed += subprocess.run([sys.executable, "-m", "bench", name], check=False).returncode != 0
        return 1 if failed else 0
    (name,) = wanted
    print(f"== {name}", flush=True)
    t0 = time.perf_counter()
    try:
        importlib.import_module(f"bench.bench_{name}").main()
    except Exception as exc:  # report, and let the other benchmarks of `make bench` go on
        print(f"{name}: FAILED {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        print(f"-- {name} took {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
