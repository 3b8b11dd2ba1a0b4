"""The clearer's FIX drop copy at scale.

1. Executions through the session into the ops store: the clearer's twin (its own process) holds N reports
   in its FileStore; a fresh initiator logs on, the gap is filled by resend (PossDup 43=Y), and every report is
   parsed and committed to SQLite — the catch-up after an outage, the heaviest the session gets. Beside it,
   in the same run, the bare engine on the same loopback (a QuickFIX initiator whose callback only counts).
   Goal: >= 20,000 executions/s.
2. Intraday recon of 1,000,000 fills (journal vs drop copy, 0.1 % booking errors) next to a bare pandas outer
   merge of the same two frames on exec id. Goal: <= 2x the bare merge.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import Figure, bench_main, emit

N_REPORTS = int(os.environ.get("BENCH_FIX_REPORTS", "100000"))
N_FILLS = 1_000_000
REPEATS = int(os.environ.get("BENCH_FIX_REPEATS", "3"))
DAY = dt.date(2026, 11, 20)
T0 = 1_795_186_800_000_000_000


def _acceptor(base: Path, n: int, ready: Path) -> None:
    """Child process: store n reports in the acceptor's FileStore, then serve resends until killed."""
    import quickfix as fix

    from core_bridge.protocol import Side
    from hw.clearing_twin.book import Fill
    from hw.clearing_twin.fault_plan import FaultConfig, build_plan
    from hw.clearing_twin.fix_acceptor import DropCopyAcceptor
    from hw.clearing_twin.fix_session import report_message

    fills = [Fill(i + 1, 100 + i // 3, T0 + i * 1000, "PROP01", "AAPL", Side.BUY, 100, 2_300_000) for i in range(n)]
    none = FaultConfig(wrong_account=0, wrong_qty=0, busts=0, corrections=0, duplicates=0, delays=0)
    plan = build_plan(fills, none)
    acc = DropCopyAcceptor(base, plan, DAY)
    acc.release_to(0)  # the replay thread stays idle: this process sends the plan itself, below
    acc.start()
    while acc.session_id is None:
        time.sleep(0.01)
    for r in plan.reports:  # not logged on: the engine persists each and will resend on request
        fix.Session.sendToTarget(fix.Message(report_message(r, DAY), False), acc.session_id)
    ready.write_text(str(acc.port))
    while True:
        time.sleep(3600)


def _start_acceptor(base: Path, n: int) -> tuple[subprocess.Popen[bytes], int]:
    ready = base.with_suffix(".port")
    code = f"from bench.bench_fix_dropcopy import _acceptor; from pathlib import Path; " \
           f"_acceptor(Path({str(base)!r}), {n}, Path({str(ready)!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 600
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("acceptor did not come up")
        time.sleep(0.1)
    return proc, int(ready.read_text())


def _bare_rate(port: int, base: Path, n: int) -> float:
    import quickfix as fix

    from hw.clearing_twin.fix_session import CLEARER_COMP_ID, FIRM_COMP_ID, SessionConfig

    got = [0]

    class App(fix.Application):  # type: ignore[misc]
        def onCreate(self, s): pass  # noqa: E704,N802
        def onLogon(self, s): pass  # noqa: E704,N802
        def onLogout(self, s): pass  # noqa: E704,N802
        def toAdmin(self, m, s): pass  # noqa: E704,N802
        def fromAdmin(self, m, s): pass  # noqa: E704,N802
        def toApp(self, m, s): pass  # noqa: E704,N802
        def fromApp(self, m, s): got[0] += 1  # noqa: E704,N802

    cfg = SessionConfig("initiator", FIRM_COMP_ID, CLEARER_COMP_ID, port, base / "store", base / "log")
    settings = fix.SessionSettings(str(cfg.write(base / "bare.cfg")))
    app, store, logs = App(), fix.FileStoreFactory(settings), fix.FileLogFactory(settings)
    ini = fix.ThreadedSocketInitiator(app, store, settings, logs)
    t0 = time.perf_counter()
    ini.start()
    while got[0] < n:
        time.sleep(0.001)
    rate = n / (time.perf_counter() - t0)
    ini.stop()
    return rate


def _session_rate(port: int, base: Path, n: int) -> float:
    from sqlalchemy import func, select

    from flows.fixdrop.session import DropCopyInitiator
    from flows.store.db import make_engine, session_scope, upgrade
    from flows.store.models import FixExecution

    url = f"sqlite:///{base / 'ops.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    ini = DropCopyInitiator(base, engine, "127.0.0.1", port)
    t0 = time.perf_counter()
    ini.start()
    while ini.writer.stored < n:
        if ini.writer.error is not None:
            raise RuntimeError(f"store refused: {ini.writer.error}")
        time.sleep(0.001)
    rate = n / (time.perf_counter() - t0)
    ini.stop()
    with session_scope(engine, readonly=True) as s:
        stored = s.execute(select(func.count()).select_from(FixExecution)).scalar_one()
    engine.dispose()
    if stored != n:
        raise AssertionError(f"{stored} executions stored, expected {n}")
    return rate


def _recon_frames(seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    from flows.recon.frames import EXEC_COLUMNS
    from flows.recon.intraday import DROPCOPY_COLUMNS

    rng = np.random.default_rng(seed)
    n = N_FILLS
    ids = pd.array(np.arange(n).astype(str), dtype="str")
    accts = np.array(["PROP01", "PROP02", "PROP03", "PROP04"], dtype=object)
    acct = accts[rng.integers(0, 4, n)]
    side = rng.choice(np.array([1, -1], dtype=np.int8), n)
    qty = rng.integers(1, 20, n).astype(np.int64) * 100
    px = rng.integers(100_000, 5_000_000, n).astype(np.int64)
    ts = T0 + np.arange(n, dtype=np.int64) * 10_000
    journal = pd.DataFrame({"exec_id": ids, "order_id": ids, "account": acct, "cusip": "037833100",
                            "symbol": "AAPL", "side": side, "qty": qty, "price": px, "ts_ns": ts,
                            "trade_date": DAY.isoformat()}).astype(EXEC_COLUMNS)
    ca = pd.Series(acct).map({a: f"3PX0010{i + 1}" for i, a in enumerate(accts)}).to_numpy()
    dc_qty = qty.copy()
    bad = rng.choice(n, n // 1000, replace=False)
    dc_qty[bad] += 100  # 0.1 % booked with a wrong quantity
    dropcopy = pd.DataFrame({"exec_id": ids, "order_id": ids, "account": acct, "clearing_account": ca,
                             "symbol": "AAPL", "side": side, "qty": dc_qty, "price": px, "ts_ns": ts + 1_000_000,
                             "state": "new"}).astype(DROPCOPY_COLUMNS)
    return journal, dropcopy, len(bad)


def _best(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


@bench_main("fix_dropcopy")
def main() -> None:
    from flows.recon.intraday import find_breaks

    home = Path(os.environ["COLO_OPS_HOME"])
    figures: list[Figure] = []
    t0 = time.perf_counter()
    proc, port = _start_acceptor(home / "acceptor-bare", N_REPORTS)
    prep_bare = time.perf_counter() - t0
    try:
        bare = _bare_rate(port, home / "bare", N_REPORTS)
    finally:
        proc.kill()
        proc.wait()
    proc, port = _start_acceptor(home / "acceptor-ops", N_REPORTS)
    try:
        ours = _session_rate(port, home / "ops", N_REPORTS)
    finally:
        proc.kill()
        proc.wait()
    figures += [
        Figure(f"executions through the session into the store ({N_REPORTS:,} resent)", ours, "exec/s", bare,
               "bare QuickFIX loopback", ">= 20,000/s", ours >= 20_000),
        Figure("clearer twin: storing the reports before logon", N_REPORTS / prep_bare, "msg/s"),
    ]
    journal, dropcopy, n_bad = _recon_frames()
    ca = {"PROP01": "3PX00101", "PROP02": "3PX00102", "PROP03": "3PX00103", "PROP04": "3PX00104"}
    now = T0 + 10**12

    def recon() -> int:
        b, _ = find_breaks(journal, dropcopy, trade_date=DAY.isoformat(), now_ns=now, clearing_accounts=ca)
        return len(b)

    def bare_merge() -> int:
        return len(journal.merge(dropcopy, on="exec_id", how="outer", suffixes=("_j", "_c")))

    recon()
    base_s, rows = _best(bare_merge)
    rec_s, found = _best(recon)
    if found != n_bad:
        raise AssertionError(f"intraday recon found {found} breaks, {n_bad} were seeded")
    figures += [
        Figure("intraday recon of 1M fills", rec_s, "s", base_s, "bare pandas outer merge on exec id",
               "<= 2x baseline", rec_s <= 2 * base_s),
        Figure("intraday recon breaks found", float(found), "breaks"),
    ]
    emit("fix_dropcopy", figures)


if __name__ == "__main__":
    main()
