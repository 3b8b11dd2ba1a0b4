"""`opsctl fix-dropcopy`: the drop-copy initiator as a long-running service under COLO_OPS_HOME.

Where the clearer is (one interface, chosen by configuration):
    fix.source = "twin" (default): the clearing twin's acceptor advertised in <home>/run/clearing-fix.json
    fix.source = "live": fix.host, fix.port, fix.sender_comp_id, fix.target_comp_id
State: the engine's FileStore and events under <home>/fix/dropcopy/; executions in the ops store.
Metrics on 127.0.0.1:fix.metrics_port (default any free port), advertised in <home>/run/fix-dropcopy.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core_bridge.settings import Settings
from flows.dates import today_ny
from flows.errors import OpsError
from flows.fixdrop import store
from flows.fixdrop.metrics import SessionMetrics
from flows.fixdrop.session import DropCopyInitiator
from flows.store.db import make_engine, upgrade
from hw.clearing_twin.fix_session import CLEARER_COMP_ID, FIRM_COMP_ID

STATE_FILE = "fix-dropcopy.json"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    sender: str
    target: str


def state_path(home: Path) -> Path:
    return home / "run" / STATE_FILE


def endpoint(settings: Settings) -> Endpoint:
    source = str(settings.get("fix.source", "twin"))
    if source == "live":
        host, port = settings.get("fix.host"), settings.get("fix.port")
        if not host or not port:
            raise OpsError("fix.source = live needs fix.host and fix.port (COLO_OPS_FIX_HOST, COLO_OPS_FIX_PORT)")
        return Endpoint(str(host), int(port), str(settings.get("fix.sender_comp_id", FIRM_COMP_ID)),
                        str(settings.get("fix.target_comp_id", CLEARER_COMP_ID)))
    if source != "twin":
        raise OpsError(f"fix.source must be twin or live, got {source!r}")
    from hw.clearing_twin.fix_service import read_state

    doc = read_state(settings.home)
    if doc is None:
        raise OpsError(f"no clearing FIX twin running under {settings.home} (run/clearing-fix.json)")
    return Endpoint(str(doc["host"]), int(str(doc["port"])), FIRM_COMP_ID, CLEARER_COMP_ID)


def run(settings: Settings, stop: threading.Event, *, trade_date: dt.date | None = None,
        ready: threading.Event | None = None) -> dict[str, int]:
    """Serve until `stop`; returns what was booked. Metrics refresh every second."""
    from prometheus_client import start_http_server

    ep = endpoint(settings)
    engine = make_engine(settings.db_url)
    upgrade(engine)
    metrics = SessionMetrics()
    port = int(settings.get("fix.metrics_port", 0))
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    ini = DropCopyInitiator(settings.home / "fix" / "dropcopy", engine, ep.host, ep.port, sender=ep.sender,
                            target=ep.target, metrics=metrics).start()
    path = state_path(settings.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "metrics": f"http://127.0.0.1:{server.server_port}/metrics",
                                "clearer": f"{ep.host}:{ep.port}", "session": ini.session_key}, indent=2))
    if ready is not None:
        ready.set()
    day = trade_date or today_ny()
    last_n, last_t = 0, time.monotonic()
    try:
        while not stop.wait(1.0):
            now = time.monotonic()
            metrics.rate.set((ini.received - last_n) / max(now - last_t, 1e-9))
            last_n, last_t = ini.received, now
            ini.committed()
            behind, secs = store.lag(engine, day)
            metrics.lag_fills.set(behind)
            metrics.lag_seconds.set(secs)
            from flows.recon.intraday import INTRADAY_TYPES

            by_type = store.open_breaks_by_type(engine, day)
            for bt in INTRADAY_TYPES:  # every type exported (0 when none): an alert can tell new from absent
                metrics.open_breaks.labels(btype=bt.value).set(by_type.get(bt.value, 0))
    finally:
        ini.stop()
        server.shutdown()
        path.unlink(missing_ok=True)
        engine.dispose()
    return {"received": ini.received, "rejected": ini.rejected, "garbled": ini.garbled,
            "last_seq_in": ini.writer.committed_seq}
