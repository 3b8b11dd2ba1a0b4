"""CAT's SFTP intake as a real (paramiko) SFTP server over a CatTwin directory.

Writes are allowed only under /upload and never replace an existing file (CAT rejects duplicate names);
when a `.meta.json` upload completes, the twin processes it and writes feedback under /feedback, which
the client reads back.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import paramiko

from hw.cat_twin.twin import CatTwin
from hw.clearing_twin.sftp_server import EmbeddedSftpServer, _ReadOnlyFs

log = logging.getLogger(__name__)


class _UploadHandle(paramiko.SFTPHandle):
    def __init__(self, flags: int, twin: CatTwin, name: str) -> None:
        super().__init__(flags)
        self._twin = twin
        self._name = name

    def stat(self) -> paramiko.SFTPAttributes | int:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.writefile.fileno()))  # type: ignore[attr-defined]

    def close(self) -> None:
        super().close()
        if self._name.endswith(".meta.json"):
            self._twin.process()  # metadata last: the submission is complete


class _CatFs(_ReadOnlyFs):
    def __init__(self, server: Any, root: str, twin: CatTwin, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, root, *args, **kwargs)
        self.twin = twin

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        if not flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC):
            return super().open(path, flags, attr)
        try:
            local = self._local(path)
        except PermissionError:
            return paramiko.SFTP_PERMISSION_DENIED
        if os.path.dirname(local) != str(self.twin.upload.resolve()):
            return paramiko.SFTP_PERMISSION_DENIED
        try:
            fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return paramiko.SFTP_FAILURE  # duplicate file name (CAT error 1103)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        handle = _UploadHandle(flags, self.twin, local)
        handle.writefile = os.fdopen(fd, "wb")  # type: ignore[attr-defined]
        handle.filename = local  # type: ignore[attr-defined]
        return handle


class CatSftpServer(EmbeddedSftpServer):
    """`EmbeddedSftpServer` serving a CatTwin root with uploads allowed into /upload."""

    twin: CatTwin | None = None

    def sftp_handler(self) -> tuple[type, tuple[object, ...]]:
        return _CatFs, (str(self.root), self.twin or CatTwin(self.root))
