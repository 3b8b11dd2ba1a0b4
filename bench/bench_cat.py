"""CAT: journal events -> sealed, validated, bzip2-compressed CAT files, against a same-run baseline.

Baseline: bare `orjson.dumps` of the very same CAT records + one `bz2.compress` per file, in one process
(record building not counted). Ours: build + serialise + cross-record rules in the main process, compiled
schema check + bzip2 + SHA-256 per data file in a 2-process pool, sealing and metadata. Goal: within 2x
of the baseline's time. Also: the compiled checker vs the jsonschema library per record.

Size: CAT_BENCH_EVENTS (default 10,000,000, the issue's size: ~7 M records / ~3.4 GB of JSON; bzip2 alone
needs ~4-13 min of one core on this machine kind, so this is the longest benchmark). For a quick look,
CAT_BENCH_EVENTS=1000000 runs in about a minute and a half.
"""

from __future__ import annotations

import bz2
import os
import tempfile
import time
from pathlib import Path

import orjson

from bench.common import Figure, bench_main, emit
from hw.cat_twin.lifecycles import tile_day
from hw.refdata import ACCOUNTS_BY_ID
from hw.twin.market import simulate_day
from reports.cat.config import CatConfig
from reports.cat.day import seal_day
from reports.cat.events import iter_records
from reports.cat.fastcheck import compiled_checks
from reports.cat.schema import parse_record, schema_errors

DATE = "2026-11-20"


def _baseline(events, cfg: CatConfig) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds spent in orjson + bz2 only (records built outside the clock), and records serialised."""
    spent = 0.0
    n = 0
    buf: list[dict] = []  # type: ignore[type-arg]

    def flush() -> float:
        t = time.perf_counter()
        blob = b"\n".join([orjson.dumps(r) for r in buf]) + b"\n"
        bz2.compress(blob, 9)
        return time.perf_counter() - t

    size = 0
    for r in iter_records(events, ACCOUNTS_BY_ID, cfg):
        buf.append(r)
        size += 480  # ~ bytes per line: cut files near the same size as the sealed run
        n += 1
        if size >= cfg.max_file_bytes:
            spent += flush()
            buf, size = [], 0
    if buf:
        spent += flush()
    return spent, n


@bench_main("cat")
def main() -> None:
    import datetime as dt

    n_events = int(os.environ.get("CAT_BENCH_EVENTS", "10000000"))
    day = dt.date.fromisoformat(DATE)
    sim = simulate_day(DATE, 20_000, 7).events
    t = time.perf_counter()
    events = tile_day(sim, n_events)
    gen_s = time.perf_counter() - t
    cfg = CatConfig(max_file_bytes=32 * 1024 * 1024)  # ~10 files per 1 M events: both workers busy

    with tempfile.TemporaryDirectory(prefix="bench-cat-") as tmp:
        t = time.perf_counter()
        sub = seal_day(events, ACCOUNTS_BY_ID, cfg, day, Path(tmp) / "cat", now_ns=time.time_ns(), workers=2)
        ours_s = time.perf_counter() - t
        sealed_bytes = sum((Path(tmp) / "cat" / f.name).stat().st_size for f in sub.files)

    base_s, base_records = _baseline(events, cfg)
    assert base_records == sub.records, (base_records, sub.records)

    sample = [orjson.dumps(r) for _, r in zip(range(3000), iter_records(sim, ACCOUNTS_BY_ID, cfg), strict=False)]
    checks = compiled_checks()
    t = time.perf_counter()
    for line in sample:
        rec = orjson.loads(line)
        checks[rec["type"]](rec, line)
    fast_us = (time.perf_counter() - t) / len(sample) * 1e6
    t = time.perf_counter()
    for line in sample[:500]:
        schema_errors(parse_record(line))
    slow_us = (time.perf_counter() - t) / 500 * 1e6

    eps, base_eps = n_events / ours_s, n_events / base_s
    emit("cat", [
        Figure("cat_events", n_events, "events"),
        Figure("cat_records", sub.records, "records"),
        Figure("cat_files", len(sub.files), "files"),
        Figure("cat_compressed_mb", sealed_bytes / 1e6, "MB"),
        Figure("cat_generate_s", gen_s, "s"),
        Figure("cat_seal_events_per_s", eps, "events/s", base_eps, "orjson+bz2 only (1 core)",
               ">= 0.5x baseline (within 2x)", eps >= base_eps / 2),
        Figure("cat_seal_s", ours_s, "s", base_s, "orjson+bz2 only (1 core)", "<= 2x baseline", ours_s <= 2 * base_s),
        Figure("cat_check_us_per_record", fast_us, "us", slow_us, "jsonschema library"),
    ])


if __name__ == "__main__":
    main()
