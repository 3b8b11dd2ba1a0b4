"""One recon day's inputs, read fail-closed: SOD and journal fills from the store, the clearer's EOD files,
the core's position snapshot (live, or the one the date's first run stored), corporate actions."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings
from flows import calendars
from flows.dates import NY
from flows.errors import ReconError
from flows.recon import sources
from flows.recon import store as rstore
from flows.recon.reconcile import ReconInputs, core_positions_frame
from flows.store.db import session_scope
from hw.refdata import ACCOUNTS, SECURITIES

_log = logging.getLogger("colo_ops.recon")

CUSIPS = {s.symbol: s.cusip for s in SECURITIES}
SYMBOLS = {s.cusip: s.symbol for s in SECURITIES}
CLEARING_ACCOUNTS = {a.clearing_account: a.account for a in ACCOUNTS}


def cutoff_ns(day: dt.date, settings: Settings) -> int:
    text = str(settings.get("recon.cutoff", "17:00"))
    try:
        hh, mm = (int(x) for x in text.split(":"))
        local = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY)
    except ValueError:
        raise ReconError(f"recon.cutoff must be HH:MM (New York), got {text!r}") from None
    return int(local.timestamp()) * 1_000_000_000


def clearing_source(settings: Settings) -> Any:
    """The same clearing source the SOD loads use (flows.sources.config): one configuration, one place."""
    from flows.sources.config import clearing_source as shared_source

    return shared_source(settings)


def core_port(settings: Settings) -> sources.SnapshotPort:
    src = str(settings.get("recon.core_source", "core"))
    if src.startswith("file:"):
        return sources.SnapshotFile(Path(src[len("file:"):]))
    from core_bridge.client.commands import CoreClient

    return CoreClient.from_settings(identity="monitor", settings=settings)


def fetch_inputs(day: dt.date, settings: Settings, engine: Any,
                 log: Any = None) -> tuple[ReconInputs, dict[str, str]]:
    """Every source, or ReconError: nothing is stored until all three are in hand."""
    d = day.isoformat()
    eod_inclusive = bool(settings.get("recon.settled_at_settle_date_eod", True))

    def unsettled_on(td: dt.date) -> bool:
        sd = calendars.settlement_date(td)
        return sd > day if eod_inclusive else sd >= day

    with session_scope(engine) as s:
        sod = rstore.load_sod(s, d, CUSIPS)
        execs = rstore.load_executions(s, [d], CUSIPS)
        earlier, t = [], day
        for _ in range(3):  # a settlement holiday can leave at most a couple of sessions unsettled
            t = calendars.previous_session(t)
            if unsettled_on(t):
                earlier.append(t.isoformat())
        prior_unsettled = rstore.load_executions(s, earlier, CUSIPS, require_journal=False)
        prior = rstore.load_prior(s, d)
        stored_core = rstore.load_core_snapshot(s, d, CUSIPS)
    src = clearing_source(settings)
    try:
        clearing_pos, clearing_trades = sources.read_clearing(src, day, settings.inbox_dir, CLEARING_ACCOUNTS,
                                                              home=settings.home)
    finally:
        src.close()
    if stored_core is not None:  # a re-run of a date reconciles against the snapshot that date's run took
        core, core_from = stored_core, "stored by the first run of the date"
    else:
        port = core_port(settings)
        try:
            core, core_from = core_positions_frame(sources.core_positions(port), CUSIPS), "live snapshot"
        finally:
            close = getattr(port, "close", None)
            if callable(close):
                close()
    from flows.fixdrop.store import dropcopy_frame

    dropcopy = dropcopy_frame(engine, day)  # empty when no drop-copy session ran: the witness stays silent
    ca_file = settings.get("recon.corporate_actions_file")
    actions = sources.read_corporate_actions(Path(str(ca_file)) if ca_file else None)
    trade_dates = sorted(set(clearing_trades["trade_date"]) | {d})
    settle = {td: calendars.settlement_date(td).isoformat() for td in trade_dates}
    inputs = ReconInputs(
        trade_date=d, sod_positions=sod, internal_execs=execs, clearing_positions=clearing_pos,
        clearing_trades=clearing_trades, core_positions=core, cutoff_ns=cutoff_ns(day, settings),
        settle_dates=settle, symbols=SYMBOLS, corporate_actions=actions, prior_unsettled=prior_unsettled,
        prior_breaks=prior, price_tolerance=int(settings.get("recon.price_tolerance", 0)),
        settled_at_settle_date_eod=eod_inclusive, dropcopy=dropcopy,
    )
    (log or _log).info("core positions for %s: %s", d, core_from)
    described = {"sod positions": f"{len(sod)} rows", "journal fills": f"{len(execs)}",
                 "clearer EOD positions": f"{len(clearing_pos)} rows", "clearer trades": f"{len(clearing_trades)}",
                 "core snapshot": f"{len(core)} positions", "corporate actions": f"{len(actions)}",
                 "clearer FIX drop copy": f"{len(dropcopy)} trades"}
    return inputs, described
