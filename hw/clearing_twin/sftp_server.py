"""An embedded, read-only SFTP server (paramiko) serving the clearing twin's directory tree.

For the demo and tests; production talks to the clearer's real server through the same client code
(flows/sources/sftp.py). Public-key auth only; every path is confined to the served root.

    server = EmbeddedSftpServer(root, host_key, authorized_keys=[client_pub], username="colo")
    port = server.start()          # 127.0.0.1:<free port>
    server.known_hosts_line()      # "[127.0.0.1]:<port> ecdsa-sha2-nistp256 AAAA..."
    server.stop()
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

log = logging.getLogger(__name__)


class _Auth(paramiko.ServerInterface):
    def __init__(self, username: str, authorized: list[paramiko.PKey]) -> None:
        self.username = username
        self.authorized = authorized

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self.username and any(
            key.get_name() == k.get_name() and key.asbytes() == k.asbytes() for k in self.authorized
        ):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))  # type: ignore[attr-defined]
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)


class _ReadOnlyFs(paramiko.SFTPServerInterface):
    """Maps SFTP paths onto `root`; refuses writes (the clearer's outgoing tree is read-only to us)."""

    def __init__(self, server: Any, root: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.root = os.path.realpath(root)

    def _local(self, path: str) -> str:
        local = os.path.realpath(os.path.join(self.root, path.lstrip("/")))
        if local != self.root and not local.startswith(self.root + os.sep):
            raise PermissionError(path)
        return local

    def canonicalize(self, path: str) -> str:
        return "/" + os.path.normpath("/" + path).lstrip("/")

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        try:
            local = self._local(path)
            out = []
            for name in sorted(os.listdir(local)):
                attr = paramiko.SFTPAttributes.from_stat(os.stat(os.path.join(local, name)))
                attr.filename = name
                out.append(attr)
            return out
        except PermissionError:
            return paramiko.SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
        except PermissionError:
            return paramiko.SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC):
            return paramiko.SFTP_PERMISSION_DENIED
        try:
            local = self._local(path)
            if not stat.S_ISREG(os.stat(local).st_mode):
                return paramiko.SFTP_NO_SUCH_FILE
            fh = open(local, "rb")  # noqa: SIM115 - closed by the SFTP handle
        except PermissionError:
            return paramiko.SFTP_PERMISSION_DENIED
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        handle = _Handle(flags)
        handle.readfile = fh  # type: ignore[attr-defined]
        handle.filename = local  # type: ignore[attr-defined]
        return handle

    def remove(self, path: str) -> int:
        return paramiko.SFTP_PERMISSION_DENIED

    def rename(self, oldpath: str, newpath: str) -> int:
        return paramiko.SFTP_PERMISSION_DENIED

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return paramiko.SFTP_PERMISSION_DENIED

    def rmdir(self, path: str) -> int:
        return paramiko.SFTP_PERMISSION_DENIED


@dataclass
class EmbeddedSftpServer:
    root: Path
    host_key: paramiko.PKey
    authorized_keys: list[paramiko.PKey]
    username: str = "colo"
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._stopping = threading.Event()

    def start(self) -> int:
        """Listen and serve in a background thread; returns the bound port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        sock.settimeout(0.2)  # lets the accept loop notice stop()
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"sftp-twin:{self.port}", daemon=True)
        self._thread.start()
        return self.port

    def sftp_handler(self) -> tuple[type, tuple[object, ...]]:
        """The SFTPServerInterface class and its extra arguments; subclasses serve another filesystem."""
        return _ReadOnlyFs, (str(self.root),)

    def _serve(self) -> None:
        assert self._sock is not None
        handler, handler_args = self.sftp_handler()
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            try:
                t = paramiko.Transport(conn)
                t.add_server_key(self.host_key)
                t.set_subsystem_handler("sftp", paramiko.SFTPServer, handler, *handler_args)
                t.start_server(server=_Auth(self.username, self.authorized_keys))
                self._transports.append(t)
            except (paramiko.SSHException, OSError, EOFError) as exc:  # a bad client never stops the server
                log.warning("sftp twin: connection failed: %s", exc)
                conn.close()
            self._transports = [t for t in self._transports if t.is_active()]

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for t in self._transports:
            t.close()
        self._transports.clear()

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}"

    def __enter__(self) -> EmbeddedSftpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def generate_key(path: Path) -> paramiko.PKey:
    """An ECDSA P-256 key pair at `path` (+ `.pub`); paramiko cannot generate Ed25519."""
    key = paramiko.ECDSAKey.generate(bits=256)
    path.parent.mkdir(parents=True, exist_ok=True)
    key.write_private_key_file(str(path))
    os.chmod(path, 0o600)
    path.with_name(path.name + ".pub").write_text(f"{key.get_name()} {key.get_base64()}\n")
    return key


def load_or_generate_key(path: Path) -> paramiko.PKey:
    if path.exists():
        return paramiko.ECDSAKey.from_private_key_file(str(path))
    return generate_key(path)
