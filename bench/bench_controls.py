"""The daily 15c3-5 controls report over a large day: computing it from the journal and the audit log
(flows/controls/day.py) and rendering it (reports/controls.py), against the same-run baseline of only reading
the day's records out of the journal (the floor: the report reads every record once).

A synthetic day of `BENCH_CONTROLS_N` records (default 500,000: new orders, 5 % gate rejects across the
controls, 10 % fills over 4 accounts x 20 symbols, a few kills and limit changes) and 1,000 audit records,
in a temporary COLO_OPS_HOME. Goal: the whole report <= 4x the bare journal read.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np

from bench.common import Figure, bench_main, emit

N = int(os.environ.get("BENCH_CONTROLS_N", "500000"))
DAY = dt.date(2026, 11, 20)
REJECT_CODES = (402, 400, 401, 404, 405, 406, 407, 408, 700, 710, 711, 600)


def _journal(jdir: Path, start_ns: int) -> None:
    from core_bridge.journal.writer import Journal
    from core_bridge.protocol import EVENT_DTYPE, EventType

    rng = np.random.default_rng(7)
    recs = np.zeros(N, dtype=EVENT_DTYPE)
    recs["seq"] = np.arange(1, N + 1, dtype=np.uint64)
    recs["epoch"] = 1
    recs["ts_ns"] = start_ns + np.arange(N, dtype=np.int64) * (23_400_000_000_000 // N)
    kind = rng.random(N)
    recs["etype"] = np.where(kind < 0.05, EventType.ORDER_REJECTED,
                             np.where(kind < 0.15, EventType.ORDER_FILLED, EventType.ORDER_NEW))
    recs["reason"] = np.where(kind < 0.05, rng.choice(REJECT_CODES, N), 0)
    recs["side"] = rng.integers(1, 3, N)
    recs["account"] = rng.choice([b"PROP01", b"PROP02", b"PROP03", b"PROP04"], N)
    recs["symbol"] = rng.choice([f"S{i:02d}".encode() for i in range(20)], N)
    recs["qty"] = 100
    recs["last_qty"] = np.where(recs["etype"] == EventType.ORDER_FILLED, 100, 0)
    recs["price"] = recs["last_px"] = 1_000_000 + rng.integers(0, 10_000, N)
    kills = np.arange(1000, N, N // 10)
    recs["etype"][kills] = EventType.KILL_STATE_CHANGED
    recs["qty"][kills] = 1
    recs["price"][kills] = np.tile([3, 0], len(kills))[:len(kills)]
    with Journal.open(jdir) as j:
        for part in np.array_split(recs, 50):
            j.append(part)
        j.commit()


def _audit(path: Path, start_ns: int) -> None:
    from core_bridge.audit import AuditLog, AuditRecord

    log = AuditLog(path)
    for i in range(1000):
        cmd = "set_kill" if i % 2 else "set_limits"
        args = ({"scope": "account", "key": "PROP01", "level": "HALTED" if i % 4 == 1 else "ACTIVE"} if i % 2 else
                {"account": "PROP02", "limits": {"max_order_qty": 9000 + i}, "approver": "b", "until_ns": None})
        log.write(AuditRecord(operator="bench", identity="operator", role=None, command=cmd, scope=None, key=None,
                              reason="bench", args=args, result="ok", code="OK", state_version=i, id=f"b{i}",
                              endpoint="bench", ts_ns=start_ns + i * 10_000_000_000))
    log.close()


@bench_main("controls")
def main() -> None:
    from core_bridge.settings import load_settings
    from flows.controls.evidence import day_window_ns, journal_records
    from flows.controls.run import run_controls_report

    settings = load_settings()
    start, end = day_window_ns(DAY)
    open_ns = start + 14 * 3600 * 1_000_000_000 + 30 * 60 * 1_000_000_000
    _journal(settings.journal_dir, open_ns)
    _audit(settings.home / "audit" / "control.jsonl", open_ns)
    t = time.perf_counter()
    got = journal_records(settings.journal_dir, start, end)
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    doc, paths = run_controls_report(settings, DAY)
    report_s = time.perf_counter() - t
    assert len(got) == N and doc["summary"]["journal_records"] == N
    emit("controls", [
        Figure("controls_report_s", report_s, "s", read_s, "journal read of the day", "<= 4x baseline",
               report_s <= 4 * read_s),
        Figure("controls_report_records_per_s", N / report_s, "records/s"),
        Figure("controls_report_html_bytes", float(paths[0].stat().st_size), "bytes"),
    ])


if __name__ == "__main__":
    main()
