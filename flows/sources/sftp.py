"""Fetching external files: one `FileSource` interface, a live SFTP implementation and a local-dir twin.

SFTP rules (design principle 6, house security rules):
- the server's host key is checked against our own known_hosts file with RejectPolicy; an unknown or
  changed key is a HostKeyError, never retried, and nothing is fetched;
- public-key auth only (no agent, no key search, no passwords);
- only transport errors (socket, EOF, SSH protocol) are retried, a bounded number of times;
- a file is downloaded only once its size is stable across two looks;
- the download goes to a dot-temp name in the destination directory and is renamed into place
  (atomic on one filesystem), and its sha256 is computed on the way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from flows.errors import HostKeyError, SourceAuthError, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    path: str  # POSIX path on the source
    size: int
    mtime: int

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class FetchedFile:
    remote: str
    local: Path
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return self.local.name


class FileSource(Protocol):
    """Where clearing and exchange files come from. `name` appears in logs and ingested_files.source."""

    name: str

    def list(self, directory: str) -> list[RemoteFile]: ...

    def fetch(self, remote_path: str, dest_dir: Path) -> FetchedFile: ...

    def close(self) -> None: ...


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _finish(tmp: Path, final: Path, remote: str, expected_size: int) -> FetchedFile:
    size = tmp.stat().st_size
    if size != expected_size:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"{remote}: downloaded {size} bytes, expected {expected_size}")
    digest = _sha256(tmp)
    os.replace(tmp, final)
    return FetchedFile(remote, final, digest, size)


class LocalDirSource:
    """The twin: a directory laid out like the remote tree (also what the demo uses without SFTP)."""

    def __init__(self, root: Path, name: str = "local") -> None:
        self.root = Path(root)
        self.name = name

    def _local(self, remote: str) -> Path:
        p = (self.root / remote.lstrip("/")).resolve()
        if self.root.resolve() not in (p, *p.parents):
            raise SourceError(f"{remote}: outside the source root")
        return p

    def list(self, directory: str) -> list[RemoteFile]:
        d = self._local(directory)
        if not d.is_dir():
            return []
        return [RemoteFile(f"{directory.rstrip('/')}/{p.name}", p.stat().st_size, int(p.stat().st_mtime))
                for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")]

    def fetch(self, remote_path: str, dest_dir: Path) -> FetchedFile:
        src = self._local(remote_path)
        if not src.is_file():
            raise SourceError(f"{remote_path}: no such file on {self.name}")
        dest_dir.mkdir(parents=True, exist_ok=True)
        final = dest_dir / src.name
        tmp = dest_dir / f".{src.name}.part"
        size = src.stat().st_size
        shutil.copyfile(src, tmp)
        return _finish(tmp, final, remote_path, size)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SftpConfig:
    host: str
    port: int
    username: str
    key_file: Path
    known_hosts: Path
    connect_timeout_s: float = 10.0
    attempts: int = 3
    backoff_s: float = 0.5
    stable_wait_s: float = 0.2  # between the two size looks
    stable_looks: int = 10  # give up if the file keeps growing after this many looks


# Errors that mean "the network or the server hiccupped": the only ones worth another attempt.
_TRANSIENT: tuple[type[BaseException], ...] = (socket.timeout, ConnectionError, EOFError, OSError)


class SftpSource:
    """Live SFTP (paramiko). One connection, reopened on transport errors."""

    def __init__(self, config: SftpConfig, name: str = "sftp") -> None:
        self.config = config
        self.name = name
        self._client = None  # type: ignore[var-annotated]
        self._sftp = None  # type: ignore[var-annotated]

    # --- connection -------------------------------------------------------------------------------------
    def _connect(self):  # -> paramiko.SFTPClient
        import paramiko

        if self._sftp is not None:
            return self._sftp
        c = self.config
        if not c.known_hosts.is_file():
            raise HostKeyError(f"known_hosts file {c.known_hosts} missing: refusing to connect to {c.host}")
        client = paramiko.SSHClient()
        client.load_host_keys(str(c.known_hosts))  # only ours: never the user's or the system's
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(c.host, port=c.port, username=c.username, key_filename=str(c.key_file),
                           look_for_keys=False, allow_agent=False, timeout=c.connect_timeout_s,
                           banner_timeout=c.connect_timeout_s, auth_timeout=c.connect_timeout_s)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(f"{c.host}:{c.port}: host key changed ({exc.key.get_name()}); refusing") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SourceAuthError(f"{c.host}:{c.port}: our key was refused ({exc})") from None
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise HostKeyError(f"{c.host}:{c.port}: unknown host key; refusing (RejectPolicy)") from None
            raise
        self._client = client
        self._sftp = client.open_sftp()
        return self._sftp

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        if self._client is not None:
            self._client.close()
        self._sftp = self._client = None

    def _with_retries(self, what: str, fn):  # type: ignore[no-untyped-def]
        import paramiko

        last: BaseException | None = None
        for attempt in range(1, self.config.attempts + 1):
            try:
                return fn(self._connect())
            except (HostKeyError, SourceAuthError):
                raise
            except FileNotFoundError:
                raise SourceError(f"{what}: no such file on {self.name}") from None
            except (*_TRANSIENT, paramiko.SSHException) as exc:
                last = exc
                log.warning("%s: %s (attempt %d/%d)", what, exc, attempt, self.config.attempts)
                self.close()
                if attempt < self.config.attempts:
                    time.sleep(self.config.backoff_s * attempt)
        raise SourceError(f"{what}: failed after {self.config.attempts} attempt(s): {last}")

    # --- FileSource -------------------------------------------------------------------------------------
    def list(self, directory: str) -> list[RemoteFile]:
        def do(sftp) -> list[RemoteFile]:  # type: ignore[no-untyped-def]
            try:
                entries = sftp.listdir_attr(directory)
            except FileNotFoundError:
                return []
            return [RemoteFile(f"{directory.rstrip('/')}/{e.filename}", int(e.st_size or 0), int(e.st_mtime or 0))
                    for e in sorted(entries, key=lambda e: e.filename)
                    if stat.S_ISREG(e.st_mode or 0) and not e.filename.startswith(".")]

        return self._with_retries(f"list {directory}", do)  # type: ignore[no-any-return]

    def _stable_size(self, sftp, remote: str) -> int:  # type: ignore[no-untyped-def]
        size = sftp.stat(remote).st_size
        for _ in range(self.config.stable_looks):
            time.sleep(self.config.stable_wait_s)
            again = sftp.stat(remote).st_size
            if again == size:
                return int(size)
            size = again
        raise SourceError(f"{remote}: size still changing after {self.config.stable_looks} looks")

    def fetch(self, remote_path: str, dest_dir: Path) -> FetchedFile:
        name = PurePosixPath(remote_path).name
        dest_dir.mkdir(parents=True, exist_ok=True)
        final = dest_dir / name
        tmp = dest_dir / f".{name}.part"

        def do(sftp) -> FetchedFile:  # type: ignore[no-untyped-def]
            size = self._stable_size(sftp, remote_path)
            try:
                sftp.get(remote_path, str(tmp))  # prefetch on (off is ~40x slower)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return _finish(tmp, final, remote_path, size)

        return self._with_retries(f"fetch {remote_path}", do)  # type: ignore[no-any-return]

    def __enter__(self) -> SftpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
