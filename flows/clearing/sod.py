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
from flows.sources.delimited_formats import parse_balances
from flows.sources.positions_format import parse_positions
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
    return pf, validate_positions(pf, business_date, known)


def check_balances(path: Path, business_date: dt.date, known: frozenset[str]) -> tuple[Any, Any]:
    from flows.sources.expectations import validate_balances_frame

    bf = parse_balances(path, business_date, known_accounts=known)
    return bf, validate_balances_frame(path, balances_frame(bf), business_date, known)


def ingest_sod_files(engine: Engine, source: FileSource, day: dt.date, home: Path) -> list[IngestResult]:
    """Positions then balances; each file whole or not at all (a rejected one raises FileRejectedError)."""
    known = known_clearing_accounts(engine)
    return [
        ingest(engine, source, remote_path("sod_positions", day), kind="clearing.positions", business_date=day,
               home=home, check=lambda p: check_positions(p, day, known), load=load_positions),
        ingest(engine, source, remote_path("balances", day), kind="clearing.balances", business_date=day,
               home=home, check=lambda p: check_balances(p, day, known), load=load_balances),
    ]


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
