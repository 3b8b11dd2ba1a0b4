"""One intraday recon run as plain code (the Prefect flow `flows/jobs/intraday_recon.py` only wires it):
read the journal and the drop copy, reconcile as of `now_ns`, store, and say what is new."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from core_bridge.settings import Settings
from flows.fixdrop import store as fixstore
from flows.recon import alerts
from flows.recon import intraday_store as istore
from flows.recon.intraday import DEFAULT_GRACE_NS, NS, IntradayResult, reconcile_intraday
from hw.refdata import ACCOUNTS

CLEARING_ACCOUNTS = {a.account: a.clearing_account for a in ACCOUNTS}


@dataclass(frozen=True)
class IntradayRun:
    date: str
    as_of_ns: int
    result: IntradayResult
    journal_fills: int
    dropcopy_trades: int
    open_rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_type: dict[str, int] = {}
        for r in self.open_rows:
            by_type[r["btype"]] = by_type.get(r["btype"], 0) + 1
        return {"date": self.date, "as_of_ns": self.as_of_ns, "journal_fills": self.journal_fills,
                "dropcopy_trades": self.dropcopy_trades, "found": len(self.result.breaks),
                "new": len(self.result.new), "closed": len(self.result.closed), "pending": self.result.pending,
                "open": len(self.open_rows), "open_by_type": by_type,
                "closed_reasons": dict(zip(self.result.closed["break_id"], self.result.closed["reason"],
                                           strict=True))}


def grace_ns(settings: Settings) -> int:
    return int(float(settings.get("intraday_recon.grace_s", DEFAULT_GRACE_NS / NS)) * NS)


def run(day: dt.date, settings: Settings, engine: Engine, now_ns: int) -> IntradayRun:
    journal = istore.journal_fills(settings.journal_dir, day)
    dropcopy = fixstore.dropcopy_frame(engine, day)
    prior = istore.open_breaks(engine, day)
    result = reconcile_intraday(journal, dropcopy, prior, trade_date=day.isoformat(), now_ns=now_ns,
                                clearing_accounts=CLEARING_ACCOUNTS, grace_ns=grace_ns(settings))
    istore.save(engine, day, result, now_ns)
    rows = [r for r in istore.breaks_of(engine, day) if r["status"] == "open"]
    for r in rows:
        r["age_s"] = max(0, (now_ns - int(r["event_ns"])) // NS)
    return IntradayRun(day.isoformat(), now_ns, result, len(journal), len(dropcopy), rows)


def alert_for(r: IntradayRun) -> alerts.Alert | None:
    """The alert about new breaks (None when nothing is new): the same channels as end-of-day recon."""
    new = r.result.new
    if new.empty:
        return None
    by_type = {str(k): int(v) for k, v in new["btype"].value_counts().sort_index().items()}
    return alerts.Alert(title=f"intraday recon {r.date}: {len(new)} new break(s)",
                        body=", ".join(f"{t} {n}" for t, n in by_type.items()) + " (drop copy vs journal)",
                        date=r.date, new_breaks=len(new), open_breaks=len(r.open_rows), by_type=by_type)
