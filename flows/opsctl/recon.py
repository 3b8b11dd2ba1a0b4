"""`opsctl recon show|signoff`: the on-call engineer's view of reconciliation breaks.

pandas, SQLAlchemy and the store are imported inside the commands so `opsctl --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer

from flows.opsctl.common import ExitCode, Fail, business_date

app = typer.Typer(help="Reconciliation breaks: show open ones, sign them off.", no_args_is_help=True)

SHOW_COLUMNS = ("break_id", "btype", "status", "first_seen", "age_days", "account", "symbol", "exec_id",
                "internal_qty", "clearing_qty", "core_qty", "detail")


def _engine() -> Any:
    from core_bridge.settings import load_settings
    from flows.store.db import make_engine, upgrade

    engine = make_engine(load_settings().db_url)
    upgrade(engine)
    return engine


def _plain(v: Any) -> Any:
    import pandas as pd

    if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


@app.command("show")
def show(
    date: str | None = typer.Option(None, "--date", help="Business date YYYY-MM-DD (default: today, New York)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    all_: bool = typer.Option(False, "--all", help="Include resolved and signed-off breaks."),
) -> None:
    """Breaks first seen on or before the date; open ones only unless --all. Ages are as of the date."""
    from flows.recon.aging import age_business_days
    from flows.recon.store import load_breaks
    from flows.store.db import session_scope

    day = business_date(date)
    engine = _engine()
    try:
        with session_scope(engine) as s:
            frame = load_breaks(s, as_of=day, open_only=not all_)
    finally:
        engine.dispose()
    if len(frame):
        is_open = frame["status"].isin(["OPEN", "CARRIED"])
        frame.loc[is_open, "age_days"] = age_business_days(frame.loc[is_open, "first_seen"], day)
    rows = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    if as_json:
        typer.echo(json.dumps({"date": day, "count": len(rows), "breaks": rows}, indent=2, default=str))
        return
    if not rows:
        typer.echo(f"no {'' if all_ else 'open '}breaks as of {day}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Reconciliation breaks as of {day}")
    cols = SHOW_COLUMNS + (("resolution", "signoff_by", "signoff_note") if all_ else ())
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
    Console().print(table)


@app.command("signoff")
def signoff(
    break_id: str = typer.Argument(..., help="The break id (B + 15 hex digits)."),
    who: str = typer.Option(..., "--who", help="Who signs off (recorded as evidence)."),
    note: str = typer.Option(..., "--note", help="Why it is closed (recorded as evidence)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Close an open break; who, when (UTC) and the note are recorded in the store."""
    from flows.errors import ReconError
    from flows.recon.store import signoff as do_signoff
    from flows.store.db import session_scope

    engine = _engine()
    try:
        with session_scope(engine) as s:
            row = do_signoff(s, break_id, who, note, dt.datetime.now(dt.UTC))
    except ReconError as exc:
        raise Fail(ExitCode.FAILED, "refused", str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(row, indent=2, default=str))
    else:
        typer.echo(f"{break_id} signed off by {row['signoff_by']} at {row['signoff_at']}")
