"""Twin day → SFTP (embedded paramiko and real OpenSSH) → sod-load and locates → store; re-runs change nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from flows.clearing.runs import run_locates, run_regsho_report, run_sod_load
from flows.errors import NotASessionError
from flows.sources.sftp import SftpConfig, SftpSource
from flows.store.db import make_engine, upgrade
from hw.clearing_twin import lists, publisher
from hw.clearing_twin.book import initial_book
from tests.fixtures.sshd import SftpEndpoint

DAY = dt.date(2026, 11, 12)  # the Thursday after Veterans Day (a session, not a settlement day)
LIST_DAY = dt.date(2026, 11, 10)  # so the threshold lists are Tuesday's
TABLES = ("ingested_files", "sod_positions", "sod_balances", "locates", "sho_list_entries", "locate_log")
NOW = dt.datetime(2026, 11, 12, 11, 0, tzinfo=dt.UTC)


def _publish(root: Path) -> None:
    publisher.publish_sod(root, DAY, initial_book())
    for d in (dt.date(2026, 11, 9), LIST_DAY):
        publisher.publish_threshold_lists(root, d)


def _tables(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as c:
        return {t: sorted(tuple(str(v) for v in r) for r in c.execute(text(f"SELECT * FROM {t}")))  # noqa: S608
                for t in TABLES}


@pytest.mark.parametrize("server", ["embedded_sftp", "sshd_server"])
def test_sod_and_locates_when_run_twice_over_sftp_then_loaded_once_and_tables_identical(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ep: SftpEndpoint = request.getfixturevalue(server)
    _publish(ep.root)
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    home = tmp_path / "home"
    cfg = SftpConfig(ep.host, ep.port, ep.username, ep.key_file, ep.known_hosts, stable_wait_s=0.01)

    with SftpSource(cfg) as src:
        first = run_sod_load(engine, src, DAY, home, core=None)
        loc = run_locates(engine, src, DAY, home, core=None, now=NOW)
    after_first = _tables(engine)
    with SftpSource(cfg) as src:
        again = run_sod_load(engine, src, DAY, home, core=None)
        loc2 = run_locates(engine, src, DAY, home, core=None, now=NOW + dt.timedelta(hours=1))

    assert [f.status for f in first.files] == ["loaded", "loaded"]
    assert first.files[0].records == len(after_first["sod_positions"]) > 0
    assert len(after_first["sod_balances"]) == 4
    assert {f.status for f in loc.files} == {"loaded"} and len(loc.files) == 6
    assert [f.status for f in again.files + loc2.files] == ["skipped"] * 8
    assert _tables(engine) == after_first
    inbox = home / "inbox" / DAY.isoformat()
    # A re-run that skips keeps the loaded copies for retention to archive.
    assert all((inbox / f.name).is_file() for f in again.files), sorted(p.name for p in inbox.iterdir())
    with engine.connect() as c:
        grants = dict(c.execute(text("SELECT symbol, granted FROM locate_log")).all())
        thr_dates = {r[0] for r in c.execute(text("SELECT business_date FROM sho_list_entries "
                                                   "WHERE list_type = 'threshold'"))}
    assert grants["AAPL"] == lists.ETB_AVAILABLE
    assert grants["TSLA"] == 0  # threshold security, not ETB
    assert grants["INTC"] == lists.PREBORROW["INTC"]
    assert "ZVZZT" in grants  # unknown-to-us names on an exchange list still get an explicit 0
    assert {str(d) for d in thr_dates} == {LIST_DAY.isoformat()}
    engine.dispose()


def test_regsho_report_when_no_shorts_then_zero_unlocated_and_same_bytes_on_rerun(tmp_path: Path) -> None:
    from flows.sources.sftp import LocalDirSource

    root = tmp_path / "clearer"
    _publish(root)
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    run_locates(engine, LocalDirSource(root), DAY, tmp_path / "home", core=None, now=NOW)
    out = tmp_path / "reports"
    first = run_regsho_report(engine, DAY, out)
    data = [Path(p).read_bytes() for p in first.outputs]
    second = run_regsho_report(engine, DAY, out)
    assert [Path(p).read_bytes() for p in second.outputs] == data
    assert b'"short_sales_without_locate": 0' in data[0]
    assert b'"INTC": 2000' in data[0]
    assert first.alerts == []
    engine.dispose()


def test_sod_load_when_not_a_session_then_not_a_session_error(tmp_path: Path) -> None:
    from flows.sources.sftp import LocalDirSource

    with pytest.raises(NotASessionError):
        run_sod_load(make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"), LocalDirSource(tmp_path),
                     dt.date(2026, 11, 26), tmp_path, core=None)
