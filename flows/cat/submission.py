"""Submitting sealed CAT files: one interface, a live SFTP implementation and a twin implementation.

Order matters (cat.md §4): every data file is uploaded before the metadata that lists it, because CAT
takes the metadata's arrival as the submission time and checks its files are there.
"""

from __future__ import annotations

import abc
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.errors import CatError, HostKeyError, SourceError
from hw.cat_twin.twin import CatTwin
from reports.cat.package import Submission


@dataclass(frozen=True)
class SubmitReceipt:
    metas: list[str]
    files: list[str]
    submitted_ns: int


class CatSubmitter(abc.ABC):
    """Uploads one sealed submission and fetches CAT's feedback."""

    @abc.abstractmethod
    def upload(self, paths: list[Path]) -> None:
        """Upload in the given order; never overwrite a remote file."""

    @abc.abstractmethod
    def fetch_feedback(self, dest: Path) -> list[Path]:
        """Copy feedback files not yet in `dest` into it; returns the new ones."""

    def submit(self, cat_dir: Path, sub: Submission) -> SubmitReceipt:
        data = [cat_dir / f.name for f in sub.files]
        metas = [cat_dir / m for m in sub.metas]
        for p in data + metas:
            if not p.exists():
                raise CatError(f"{p} is not sealed; nothing submitted")
        self.upload(data + metas)  # data first, metadata last
        return SubmitReceipt(list(sub.metas), [f.name for f in sub.files], time.time_ns())


class TwinCatSubmitter(CatSubmitter):
    """Hands files straight to an in-process CatTwin (tests, demo)."""

    def __init__(self, twin: CatTwin) -> None:
        self.twin = twin

    def upload(self, paths: list[Path]) -> None:
        for p in paths:
            dst = self.twin.upload / p.name
            if dst.exists():
                raise CatError(f"{p.name} was already submitted (CAT rejects duplicate file names)")
            shutil.copyfile(p, dst)
            if p.name.endswith(".meta.json"):
                self.twin.process()

    def fetch_feedback(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        new = []
        for p in sorted(self.twin.feedback.iterdir()):
            if not (dest / p.name).exists():
                shutil.copyfile(p, dest / p.name)
                new.append(dest / p.name)
        return new


class SftpCatSubmitter(CatSubmitter):
    """CAT's SFTP intake (or the CAT SFTP twin): public-key auth, host key pinned in known_hosts."""

    def __init__(self, host: str, port: int, username: str, key_path: Path, known_hosts: Path,
                 upload_dir: str = "/upload", feedback_dir: str = "/feedback", timeout: float = 15.0) -> None:
        self.host, self.port, self.username = host, port, username
        self.key_path, self.known_hosts = Path(key_path), Path(known_hosts)
        self.upload_dir, self.feedback_dir, self.timeout = upload_dir, feedback_dir, timeout

    def _connect(self) -> Any:
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # an unknown host key is never accepted
        try:
            client.connect(self.host, port=self.port, username=self.username, key_filename=str(self.key_path),
                           timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout,
                           allow_agent=False, look_for_keys=False)
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(f"{self.host}:{self.port}: host key changed: {exc}") from None
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyError(f"{self.host}:{self.port}: unknown host key") from None
            raise SourceError(f"{self.host}:{self.port}: {exc}") from None
        except OSError as exc:
            raise SourceError(f"{self.host}:{self.port}: {exc}") from None
        return client

    def upload(self, paths: list[Path]) -> None:
        client = self._connect()
        try:
            sftp = client.open_sftp()
            existing = set(sftp.listdir(self.upload_dir))
            for p in paths:
                if p.name in existing:
                    raise CatError(f"{p.name} was already submitted (CAT rejects duplicate file names)")
            for p in paths:
                sftp.put(str(p), f"{self.upload_dir}/{p.name}", confirm=True)
        finally:
            client.close()

    def fetch_feedback(self, dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        client = self._connect()
        new = []
        try:
            sftp = client.open_sftp()
            for name in sorted(sftp.listdir(self.feedback_dir)):
                if not (dest / name).exists():
                    sftp.get(f"{self.feedback_dir}/{name}", str(dest / name))
                    new.append(dest / name)
        finally:
            client.close()
        return new


def make_submitter(settings: Any) -> CatSubmitter:
    """`cat.submitter` = "twin" (default: a CatTwin under COLO_OPS_HOME/cat_twin) or "sftp" (`cat.sftp.*`)."""
    kind = str(settings.get("cat.submitter", "twin"))
    if kind == "sftp":
        return SftpCatSubmitter(
            str(settings.get("cat.sftp.host", "127.0.0.1")), int(settings.get("cat.sftp.port", 22)),
            str(settings.get("cat.sftp.user", "cat")), Path(str(settings.get("cat.sftp.key", ""))),
            Path(str(settings.get("cat.sftp.known_hosts", ""))))
    if kind == "twin":
        return TwinCatSubmitter(CatTwin(Path(str(settings.get("cat.twin.dir", settings.home / "cat_twin")))))
    raise CatError(f"unknown cat.submitter {kind!r} (twin | sftp)")
