"""SOD load as plain functions: the checks per file kind, the load, and the push to the core.

Remote layout (docs/clearing_formats.md): outgoing/YYYYMMDD/<kind>_YYYYMMDD.<ext> on the clearer's SFTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, select

from flows.clearing.ingest import IngestResult, ingest
from flows.clearing.loaders import (
    balances_frame,
    clearing_accounts,
    load_balances,
    load_positions,
)
from flows.sources.delimited_formats import parse_balances, require_accounts
from flows.sources.positions_format import check_header, parse_positions
from flows.sources.sftp import FileSource
from flows.store.db import session_scope
from flows.store.models import SodPosition


class CorePort(Protocol):
    """What the clearing flows need from core_bridge.client.CoreClient (which satisfies it)."""

    def set_sod_positions(self, date: str, positions: Mapping[str, Mapping[str, int]], reason: str = "", *,
                          idempotency_key: str | None = None) -> Any: ...

    def set_bp(self, bp: Mapping[str, Any], as_of_ns: int, reason: str = "", *,
               idempotency_key: str | None = None) -> Any: ...

    def set_locates(self, date: str, locates: Mapping[str, int], reason: str = "", *,
                    idempotency_key: str | None = None) -> Any: ...

    def snapshot(self) -> Any: ...


def remote_path(kind: str, day: dt.date) -> str:
    ext = {"balances": "csv", "trades": "csv"}.get(kind, "txt")
    return f"outgoing/{day:%Y%m%d}/{kind}_{day:%Y%m%d}.{ext}"


def known_clearing_accounts(engine: Engine) -> frozenset[str]:
    with session_scope(engine) as s:
        return frozenset(clearing_accounts(s))


def check_positions(path: Path, business_date: dt.date, known: frozenset[str]) -> tuple[Any, Any]:
    from flows.sources.expectations import validate_positions

    pf = parse_positions(path)
    check_header(pf, "SOD")  # the business date is the suite's first expectation
    return pf, validate_positions(pf, business_date, known)


def check_balances(path: Path, business_date: dt.date, known: frozenset[str],
                   required: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """`required`: clearing account -> core account of every account the day's positions hold; each must
    have a balance row (a missing one rejects the file, naming the accounts)."""
    from flows.sources.expectations import validate_balances_frame

    bf = parse_balances(path, business_date, known_accounts=known)
    if required:
        require_accounts(bf, required)
    return bf, validate_balances_frame(path, balances_frame(bf), business_date, known,
                                       record_count=bf.envelope.record_count if bf.envelope else None,
                                       trailer_line=bf.envelope.trailer_line if bf.envelope else None)


def position_accounts(engine: Engine, day: dt.date) -> dict[str, str]:
    """clearing account -> core account of every account with a SOD position loaded for `day`."""
    with session_scope(engine) as s:
        to_clearing = {core: clr for clr, core in clearing_accounts(s).items()}
        held = s.execute(select(SodPosition.account).where(SodPosition.business_date == day).distinct()).scalars()
        return {to_clearing.get(a, a): a for a in held}


def ingest_sod_files(engine: Engine, source: FileSource, day: dt.date, home: Path) -> list[IngestResult]:
    """Positions then balances; each file whole or not at all (a rejected one raises FileRejectedError).
    The balances file must cover every account the loaded positions hold."""
    known = known_clearing_accounts(engine)
    positions = ingest(engine, source, remote_path("sod_positions", day), kind="clearing.positions",
                       business_date=day, home=home, check=lambda p: check_positions(p, day, known),
                       load=load_positions)
    required = position_accounts(engine, day)
    balances = ingest(engine, source, remote_path("balances", day), kind="clearing.balances", business_date=day,
                      home=home, check=lambda p: check_balances(p, day, known, required), load=load_balances)
    return [positions, balances]


def sod_positions_for_core(engine: Engine, day: dt.date) -> dict[str, dict[str, int]]:
    """{core account: {symbol: trade-date qty}} as loaded for `day` (what set_sod_positions carries)."""
    out: dict[str, dict[str, int]] = {}
    with session_scope(engine) as s:
        for acct, sym, qty in s.execute(select(SodPosition.account, SodPosition.symbol, SodPosition.td_qty)
                                        .where(SodPosition.business_date == day)):
            out.setdefault(acct, {})[sym] = int(qty)
    return out


def push_sod_positions(core: CorePort, day: dt.date, positions: Mapping[str, Mapping[str, int]],
                       file_sha256: str) -> Any:
    """Push and require the ack (CoreClient raises on refusal or no ack). Keyed by date + file so a re-run
    replays the same command id and the core applies it once."""
    return core.set_sod_positions(day.isoformat(), positions, reason=f"sod-load {day}",
                                  idempotency_key=f"sod-load:{day}:{file_sha256[:16]}")
