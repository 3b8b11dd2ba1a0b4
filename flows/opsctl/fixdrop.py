"""`opsctl fix-dropcopy`: run the clearer's FIX drop-copy session (flows/fixdrop/service.py) until stopped."""

from __future__ import annotations

import datetime as dt
import json
import signal
import threading

import typer

from core_bridge.settings import load_settings
from flows.opsctl.common import business_date


def cmd_fix_dropcopy(
    date: str | None = typer.Option(None, "--date", help="Business date whose lag metrics to report "
                                                         "(default: today in New York)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was booked as JSON when stopped."),
) -> None:
    """Book the clearing firm's FIX 4.4 drop copy into the ops store until SIGTERM/SIGINT.

    The clearer is the twin advertised in COLO_OPS_HOME/run/clearing-fix.json (fix.source = twin) or
    fix.host/fix.port (fix.source = live). Executions are stored once by ExecID; sequence numbers persist
    under COLO_OPS_HOME/fix/dropcopy; Prometheus metrics are served as run/fix-dropcopy.json says.
    """
    from flows.fixdrop.service import run

    day = dt.date.fromisoformat(business_date(date)) if date else None  # a malformed date: usage, exit 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    out = run(load_settings(), stop, trade_date=day)
    typer.echo(json.dumps(out) if as_json else ", ".join(f"{k} {v}" for k, v in out.items()))


def register(root: typer.Typer) -> None:
    root.command("fix-dropcopy")(cmd_fix_dropcopy)
