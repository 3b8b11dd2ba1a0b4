"""SFTP fetch against the twin's embedded paramiko server and a real OpenSSH sshd."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from flows.errors import HostKeyError, SourceError
from flows.sources.sftp import SftpConfig, SftpSource
from hw.clearing_twin import publisher
from hw.clearing_twin.book import initial_book
from hw.clearing_twin.sftp_server import generate_key
from tests.fixtures.sshd import SftpEndpoint

DAY = dt.date(2026, 11, 12)


def _source(ep: SftpEndpoint, known_hosts: Path | None = None) -> SftpSource:
    return SftpSource(SftpConfig(ep.host, ep.port, ep.username, ep.key_file, known_hosts or ep.known_hosts,
                                 connect_timeout_s=5, attempts=2, backoff_s=0.05, stable_wait_s=0.01))


@pytest.mark.parametrize("server", ["embedded_sftp", "sshd_server"])
def test_fetch_when_host_key_known_then_file_downloaded_atomically_with_sha256(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ep: SftpEndpoint = request.getfixturevalue(server)
    paths = publisher.publish_sod(ep.root, DAY, initial_book())
    dest = tmp_path / "inbox"
    with _source(ep) as src:
        listed = src.list(f"outgoing/{DAY:%Y%m%d}")
        got = src.fetch(f"outgoing/{DAY:%Y%m%d}/sod_positions_{DAY:%Y%m%d}.txt", dest)
    assert [f.name for f in listed] == sorted(p.name for p in paths)
    original = (publisher.day_dir(ep.root, DAY) / got.name).read_bytes()
    assert got.local.read_bytes() == original
    assert got.sha256 == hashlib.sha256(original).hexdigest()
    assert sorted(p.name for p in dest.iterdir()) == [got.name]  # no temp file left behind


@pytest.mark.parametrize("server", ["embedded_sftp", "sshd_server"])
def test_fetch_when_host_key_unknown_then_refused_and_nothing_fetched(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ep: SftpEndpoint = request.getfixturevalue(server)
    publisher.publish_sod(ep.root, DAY, initial_book())
    other = generate_key(tmp_path / "other_host_key")
    wrong = tmp_path / "known_hosts_other"
    wrong.write_text(f"[127.0.0.1]:{ep.port + 1} {other.get_name()} {other.get_base64()}\n")
    dest = tmp_path / "inbox"
    with pytest.raises(HostKeyError, match="unknown host key"), _source(ep, wrong) as src:
        src.fetch(f"outgoing/{DAY:%Y%m%d}/sod_positions_{DAY:%Y%m%d}.txt", dest)
    assert not dest.exists() or not any(dest.iterdir())


def test_fetch_when_host_key_changed_then_refused(embedded_sftp: SftpEndpoint, tmp_path: Path) -> None:
    other = generate_key(tmp_path / "impostor")
    forged = tmp_path / "known_hosts_forged"
    forged.write_text(f"[127.0.0.1]:{embedded_sftp.port} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(HostKeyError, match="changed"), _source(embedded_sftp, forged) as src:
        src.list("outgoing")


def test_fetch_when_file_missing_then_source_error_not_retried_forever(embedded_sftp: SftpEndpoint,
                                                                       tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"), _source(embedded_sftp) as src:
        src.fetch("outgoing/19990101/nothing.txt", tmp_path)


def test_fetch_when_server_down_then_transport_retried_then_source_error(tmp_path: Path,
                                                                         embedded_sftp: SftpEndpoint) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    known = tmp_path / "kh"
    known.write_text(embedded_sftp.known_hosts.read_text().replace(f":{embedded_sftp.port} ", f":{dead_port} "))
    ep = SftpEndpoint("127.0.0.1", dead_port, "colo", embedded_sftp.key_file, known, embedded_sftp.root)
    with pytest.raises(SourceError, match="after 2 attempt"), _source(ep) as src:
        src.list("outgoing")
