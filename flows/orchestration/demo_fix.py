"""The demo day's FIX drop copy: the clearer's acceptor twin replays the day's fills (from the live journal,
the same fills its EOD files are built from) under its seeded fault plan, and `opsctl fix-dropcopy` books
them; both are services that outlive the demo (stopped by `opsctl demo --down`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from typing import Any

from core_bridge.protocol import Side
from core_bridge.settings import Settings

DROPCOPY_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0  # each imports pandas, SQLAlchemy and the FIX engine and migrates the store: slow when busy


def start_fix_dropcopy(settings: Settings, day: dt.date, seed: int) -> dict[str, Any]:
    from flows.fixdrop import service
    from flows.fixdrop import store as fixstore
    from flows.orchestration.demo_services import _advertised, _spawn, _wait_ready, record
    from flows.recon.intraday_store import journal_fills
    from flows.store.db import make_engine, upgrade
    from hw.clearing_twin import fix_service
    from hw.clearing_twin.book import Fill

    fills = journal_fills(settings.journal_dir, day)
    twin_fills = [Fill(int(r.exec_id), int(r.order_id), int(r.ts_ns), r.account, r.symbol,
                       Side.BUY if r.side == 1 else Side.SELL, int(r.qty), int(r.price))
                  for r in fills.itertuples(index=False)]
    fix_service.write_fills(settings.home, day, twin_fills)
    twin = _spawn(settings, "clearing-fix", [sys.executable, "-m", "hw.clearing_twin.fix_service", "--home",
                                             str(settings.home), "--date", day.isoformat(), "--seed", str(seed)])
    record(settings, fix_twin_pid=twin.pid)  # recorded before waiting: `demo --down` stops it whatever happens
    _wait_ready(twin, "clearing FIX twin", settings.run_dir / "clearing-fix.log",
                _advertised(fix_service.state_path(settings.home), twin.pid), timeout_s=START_TIMEOUT_S)
    ops = _spawn(settings, "fix-dropcopy", [sys.executable, "-m", "flows.opsctl.app", "fix-dropcopy", "--date",
                                            day.isoformat()])
    record(settings, fix_dropcopy_pid=ops.pid)
    _wait_ready(ops, "fix-dropcopy", settings.run_dir / "fix-dropcopy.log",
                _advertised(service.state_path(settings.home), ops.pid), timeout_s=START_TIMEOUT_S)
    state = json.loads(fix_service.state_path(settings.home).read_text())
    engine = make_engine(settings.db_url)
    upgrade(engine)
    want = len({str(f.exec_id) for f in twin_fills} - {e for e, f in state["expected_breaks"].items()
                                                     if f == "MISSING_AT_CLEARING"})
    deadline = time.monotonic() + DROPCOPY_TIMEOUT_S
    try:
        while (got := fixstore.counts(engine, day))["trades"] < want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"drop copy booked {got['trades']} of {want} trades in {DROPCOPY_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
    finally:
        engine.dispose()
    return {"fix_twin_pid": twin.pid, "fix_dropcopy_pid": ops.pid, "trades": got["trades"],
            "busts": got["busts"], "corrections": got["corrections"], "expected_breaks": state["expected_breaks"]}
