"""The live SFTP submitter against the CAT twin served over real SFTP (paramiko server, pinned host key)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cat.submission import SftpCatSubmitter
from flows.errors import CatError, HostKeyError
from hw.cat_twin import CatTwin
from hw.cat_twin.lifecycles import mixed_day
from hw.cat_twin.sftp import CatSftpServer
from hw.clearing_twin.sftp_server import generate_key
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_day
from reports.cat.feedback import parse_feedback

DAY = dt.date(2026, 11, 20)
NOW = 2_000_000_000_000_000_000


@pytest.fixture
def cat_sftp(tmp_path: Path) -> Iterator[tuple[CatSftpServer, CatTwin, Path]]:
    client_key = generate_key(tmp_path / "keys" / "client")
    twin = CatTwin(tmp_path / "cat_root", inject={"20261120_1.8.0": ["2093"]})
    server = CatSftpServer(twin.root, generate_key(tmp_path / "keys" / "host"), [client_key], username="cat")
    server.twin = twin
    server.start()
    (tmp_path / "known_hosts").write_text(server.known_hosts_line() + "\n")
    try:
        yield server, twin, tmp_path
    finally:
        server.stop()


def test_sftp_submit_when_sealed_day_then_data_then_meta_uploaded_and_feedback_fetched(
    cat_sftp: tuple[CatSftpServer, CatTwin, Path],
) -> None:
    server, twin, tmp = cat_sftp
    sub = seal_day(mixed_day(DAY, 2), ACCOUNTS_BY_ID, CatConfig(max_file_bytes=10_000), DAY, tmp / "cat",
                   now_ns=NOW)
    submitter = SftpCatSubmitter("127.0.0.1", server.port, "cat", tmp / "keys" / "client", tmp / "known_hosts")
    receipt = submitter.submit(tmp / "cat", sub)
    assert receipt.files == [f.name for f in sub.files] and len(receipt.files) > 1
    assert sorted(p.name for p in twin.upload.iterdir()) == sorted(receipt.files + receipt.metas)
    new = submitter.fetch_feedback(tmp / "feedback")
    fb = parse_feedback(tmp / "feedback")
    assert new and fb.integrity[sub.metas[0]]["status"] == "ACCEPTED"
    assert [(e.firm_roe_id, e.codes) for e in fb.errors] == [("20261120_1.8.0", ("2093",))]
    with pytest.raises(CatError, match="already submitted"):
        submitter.submit(tmp / "cat", sub)


def test_sftp_submit_when_host_key_unknown_then_refused_before_upload(
    cat_sftp: tuple[CatSftpServer, CatTwin, Path],
) -> None:
    server, twin, tmp = cat_sftp
    other = generate_key(tmp / "keys" / "other")
    (tmp / "wrong_hosts").write_text(f"[127.0.0.1]:{server.port} {other.get_name()} {other.get_base64()}\n")
    (tmp / "empty_hosts").write_text("")
    sub = seal_day(mixed_day(DAY), ACCOUNTS_BY_ID, CatConfig(), DAY, tmp / "cat", now_ns=NOW)
    for hosts in ("wrong_hosts", "empty_hosts"):
        submitter = SftpCatSubmitter("127.0.0.1", server.port, "cat", tmp / "keys" / "client", tmp / hosts)
        with pytest.raises(HostKeyError):
            submitter.submit(tmp / "cat", sub)
    assert list(twin.upload.iterdir()) == []
