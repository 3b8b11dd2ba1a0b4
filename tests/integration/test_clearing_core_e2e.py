"""End to end: clearing twin day → SFTP (embedded and real OpenSSH) → sod-load, locates, bp-refresh → the twin
core acknowledges positions, BP and locates; a short sale without a locate is refused with
LOCATE_UNAVAILABLE; re-running every flow for the date changes no table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core_bridge.client.commands import CoreClient
from flows.clearing.runs import run_bp_refresh, run_locates, run_sod_load
from flows.sources.sftp import SftpConfig, SftpSource
from flows.store.db import make_engine, upgrade
from hw.clearing_twin import publisher
from hw.clearing_twin.book import initial_book
from tests.fixtures.sshd import SftpEndpoint

DAY = dt.date(2026, 11, 12)
AS_OF = dt.datetime(2026, 11, 12, 11, 15, tzinfo=dt.UTC)
TABLES = ("ingested_files", "sod_positions", "sod_balances", "locates", "sho_list_entries", "locate_log",
          "bp_snapshots")


def _tables(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as c:
        return {t: sorted(tuple(str(v) for v in r) for r in c.execute(text(f"SELECT * FROM {t}")))  # noqa: S608
                for t in TABLES}


def _run_all(engine: Engine, cfg: SftpConfig, home: Path, core: CoreClient) -> list[object]:
    with SftpSource(cfg) as src:
        sod = run_sod_load(engine, src, DAY, home, core)
        loc = run_locates(engine, src, DAY, home, core, now=AS_OF)
    bp, results = run_bp_refresh(engine, DAY, core, AS_OF, Decimal("25000000"), Decimal("30000000"))
    return [sod, loc, bp, results]


@pytest.mark.parametrize("server", ["embedded_sftp", "sshd_server"])
def test_twin_day_when_loaded_over_sftp_then_core_acks_and_short_without_locate_refused(
    server: str, request: pytest.FixtureRequest, twin_core: object, tmp_path: Path
) -> None:
    ep: SftpEndpoint = request.getfixturevalue(server)
    book = initial_book()
    publisher.publish_sod(ep.root, DAY, book)
    publisher.publish_threshold_lists(ep.root, dt.date(2026, 11, 10))
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    cfg = SftpConfig(ep.host, ep.port, ep.username, ep.key_file, ep.known_hosts, stable_wait_s=0.01)
    handle = twin_core
    core = CoreClient(handle.endpoints["control"], handle.keys_dir, identity="operator",  # type: ignore[attr-defined]
                      operator="test", audit=False)
    try:
        sod, loc, bp, results = _run_all(engine, cfg, tmp_path / "home", core)
        first = _tables(engine)
        snap = core.snapshot().result

        assert sod.pushed["set_sod_positions"] > 0 and loc.pushed["set_locates"] > 0 and bp.pushed["set_bp"] > 0
        assert snap["sod_date"] == DAY.isoformat()
        assert snap["positions"]["PROP01"] == {s: q for s, q in book["PROP01"].items() if q}
        assert snap["locates_date"] == DAY.isoformat() and snap["locates"]["TSLA"] == 0
        assert snap["locates"]["AAPL"] > 0
        assert set(snap["bp"]) == {"PROP01", "PROP02", "PROP03", "PROP04"}
        assert all(r.status == "ok" and r.available > 0 for r in results.values())
        assert {Decimal(v) for v in snap["bp"].values()} == {r.available for r in results.values()}

        short = {"action": "new", "clordid": 9001, "account": "PROP01", "symbol": "TSLA", "side": "SHORT",
                 "qty": 100, "price": "250.00", "ord_type": "LIMIT", "tif": "DAY", "venue": "NSDQ"}
        reply = core.submit_orders([short], reason="short without locate")
        assert reply.result["results"][0]["code"] == "LOCATE_UNAVAILABLE"
        assert reply.result["results"][0]["ok"] is False

        _run_all(engine, cfg, tmp_path / "home", core)
        assert _tables(engine) == first
    finally:
        core.close()
        engine.dispose()
