"""A TCP line between the clearer's acceptor and the firm's initiator that can lose or garble messages.

It frames FIX messages (BeginString .. CheckSum) flowing from the clearer and, on request, drops the next N
ExecutionReports (the initiator sees a sequence gap and sends a ResendRequest) or corrupts the CheckSum of
the next N (the engine must discard them as garbled). Traffic from the firm passes untouched. One
connection at a time, like the session itself.
"""

from __future__ import annotations

import socket
import threading

from hw.clearing_twin.fix_session import free_port

EXEC_REPORT = b"\x0135=8\x01"


def split_frames(buf: bytearray) -> list[bytes]:
    """Complete FIX messages at the front of `buf` (removed from it); a partial one stays."""
    out: list[bytes] = []
    while True:
        start = buf.find(b"8=FIX")
        if start < 0:
            return out
        blen_at = buf.find(b"\x019=", start)
        body_at = buf.find(b"\x01", blen_at + 3) if blen_at >= 0 else -1
        if body_at < 0:
            return out
        try:
            body_len = int(buf[blen_at + 3:body_at])
        except ValueError:
            body_len = 0
        end = body_at + 1 + body_len + 7  # "10=nnn\x01"
        if len(buf) < end:
            return out
        out.append(bytes(buf[start:end]))
        del buf[:end]


class FixLine:
    """Listen on 127.0.0.1:`port`, forward to the acceptor at `upstream_port`."""

    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.dropped = 0
        self.garbled = 0
        self._drop = 0
        self._garble = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name="fix-line", daemon=True)
        self._socks: list[socket.socket] = []

    def start(self) -> FixLine:
        self._thread.start()
        return self

    def drop_next(self, n: int) -> None:
        with self._lock:
            self._drop += n

    def garble_next(self, n: int) -> None:
        with self._lock:
            self._garble += n

    def cut(self) -> None:
        """Break the current connection (both sides see a disconnect)."""
        for s in list(self._socks):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self.cut()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                down, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                down.close()
                continue
            up.settimeout(None)
            self._socks = [down, up]
            t = threading.Thread(target=self._pump_plain, args=(down, up), daemon=True)
            t.start()
            self._pump_frames(up, down)
            t.join(timeout=5)
            for s in (down, up):
                s.close()
            self._socks = []

    def _pump_plain(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pump_frames(self, src: socket.socket, dst: socket.socket) -> None:
        buf = bytearray()
        try:
            while data := src.recv(65536):
                buf += data
                out = []
                for frame in split_frames(buf):
                    out.append(self._fault(frame))
                if out:
                    dst.sendall(b"".join(out))
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _fault(self, frame: bytes) -> bytes:
        if EXEC_REPORT not in frame:
            return frame
        with self._lock:
            if self._drop:
                self._drop -= 1
                self.dropped += 1
                return b""
            if self._garble:
                self._garble -= 1
                self.garbled += 1
                total = int(frame[-4:-1])
                return frame[:-4] + f"{(total + 1) % 256:03d}".encode() + b"\x01"
        return frame
