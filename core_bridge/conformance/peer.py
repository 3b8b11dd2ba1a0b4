"""The suite's side of the wire: raw CURVE sockets to the core under test, with a deadline on every wait.

Why raw sockets and not `CoreClient`: the rules must send what a well-behaved client never would (a reused
id with other arguments, an expired request, a wrong version, malformed frames, a key the core does not
know), see every reply field as it came, and leave no audit-log lines behind. Replies are parsed JSON
objects (dicts), compared field by field, so an added field (e.g. `durable_version`) never breaks a rule.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import zmq

from core_bridge.client.keyfile import read_curve_key
from core_bridge.conformance.result import NoReply
from core_bridge.errors import ConfigError
from core_bridge.protocol import DEFAULT_PORTS, PROTOCOL_VERSION

if TYPE_CHECKING:
    import numpy as np

_MONITOR_HEADER = struct.Struct("=HI")


@dataclass(frozen=True)
class Endpoints:
    control: str
    telemetry: str
    dropcopy: str
    rewind: str

    @classmethod
    def around(cls, control: str, telemetry: str | None = None, dropcopy: str | None = None,
               rewind: str | None = None) -> Endpoints:
        """The four endpoints; the ones not given follow the default port layout (control + 1, + 2, + 3)."""
        head, _, port = control.rpartition(":")

        def near(name: str) -> str:
            if not port.isdigit() or not head:
                raise ConfigError(f"cannot derive the {name} endpoint from {control!r}; pass --{name}")
            return f"{head}:{int(port) + DEFAULT_PORTS[name] - DEFAULT_PORTS['control']}"

        return cls(control, telemetry or near("telemetry"), dropcopy or near("dropcopy"), rewind or near("rewind"))

    def to_json(self) -> dict[str, str]:
        return {"control": self.control, "telemetry": self.telemetry, "dropcopy": self.dropcopy,
                "rewind": self.rewind}


@dataclass
class RewindAnswer:
    """One rewind exchange: the decoded chunks (count per chunk), the end frame, or what went wrong."""

    records: np.ndarray | None = None
    chunks: list[int] = field(default_factory=list)
    end: dict[str, Any] | None = None
    error: str | None = None

    def seqs(self) -> list[int]:
        return [] if self.records is None else [int(s) for s in self.records["seq"]]


class Peer:
    """Sockets to one core, as the named client identities under `keys_dir/clients/` (and strangers)."""

    def __init__(self, endpoints: Endpoints, keys_dir: Path, *, timeout_s: float = 2.0,
                 context: zmq.Context | None = None) -> None:
        self.endpoints = endpoints
        self.keys_dir = Path(keys_dir)
        self.timeout_s = timeout_s
        self._server_key, _ = read_curve_key(self.keys_dir / "core.key")
        self._keys: dict[str, tuple[bytes, bytes]] = {}
        self._own_ctx = context is None
        self.ctx = context or zmq.Context()
        self._dealers: dict[str, zmq.Socket] = {}
        self._ids = itertools.count(1)
        self._prefix = f"conf-{os.getpid()}-{time.time_ns() % 10**12}"
        self.version = PROTOCOL_VERSION  # the control version requests carry (the runner negotiates it)

    # --- sockets ---------------------------------------------------------------------------------------------
    def keypair(self, identity: str) -> tuple[bytes, bytes]:
        if identity not in self._keys:
            path = self.keys_dir / "clients" / f"{identity}.key_secret"
            public, secret = read_curve_key(path)
            if secret is None:
                raise ConfigError("client key file has no secret key", path)
            self._keys[identity] = (public, secret)
        return self._keys[identity]

    def socket(self, kind: int, endpoint: str, identity: str | tuple[bytes, bytes] = "operator", *,
               connect: bool = True) -> zmq.Socket:
        public, secret = self.keypair(identity) if isinstance(identity, str) else identity
        s = self.ctx.socket(kind)
        s.linger = 0
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = public, secret, self._server_key
        if kind == zmq.SUB:
            s.setsockopt(zmq.RCVHWM, 0)  # the suite must not drop what the core did publish
        if connect:
            s.connect(getattr(self.endpoints, endpoint))
        return s

    def subscribe(self, endpoint: str, topics: tuple[bytes, ...], identity: str = "monitor") -> zmq.Socket:
        s = self.socket(zmq.SUB, endpoint, identity)
        for t in topics:
            s.setsockopt(zmq.SUBSCRIBE, t)
        return s

    def stranger(self, endpoint: str = "control") -> tuple[zmq.Socket, zmq.Socket]:
        """A DEALER with a fresh keypair no roles.json lists, and its monitor socket (handshake failures)."""
        s = self.socket(zmq.DEALER, endpoint, zmq.curve_keypair(), connect=False)
        mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        s.connect(getattr(self.endpoints, endpoint))
        return s, mon

    @staticmethod
    def monitor_events(mon: zmq.Socket) -> list[int]:
        out: list[int] = []
        while True:
            try:
                frames = mon.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return out
            if frames and len(frames[0]) >= _MONITOR_HEADER.size:
                out.append(_MONITOR_HEADER.unpack_from(frames[0])[0])

    def close(self) -> None:
        for s in self._dealers.values():
            s.close(0)
        self._dealers.clear()
        if self._own_ctx:
            self.ctx.destroy(linger=0)

    # --- control ---------------------------------------------------------------------------------------------
    def rid(self, tag: str) -> str:
        return f"{self._prefix}-{tag}-{next(self._ids)}"

    def frame(self, cmd: str, args: dict[str, Any] | None = None, *, rid: str | None = None,
              ttl_s: float = 30.0, expires_ns: int | None = None, v: int | None = None) -> tuple[str, bytes]:
        """(id, request frame); an envelope as §3 has it, `args` always present."""
        rid = rid or self.rid(cmd)
        doc = {"v": self.version if v is None else v, "cmd": cmd, "id": rid, "operator": "conformance",
               "reason": "corectl conformance",
               "expires_ns": expires_ns if expires_ns is not None else time.time_ns() + int(ttl_s * 1e9),
               "args": args or {}}
        return rid, orjson.dumps(doc)

    def send(self, rid: str, frame: bytes, identity: str = "operator", timeout_s: float | None = None
             ) -> dict[str, Any] | None:
        """Send one frame on the identity's DEALER; the reply carrying `rid`, or None at the deadline."""
        sock = self._dealers.get(identity)
        if sock is None:
            sock = self._dealers[identity] = self.socket(zmq.DEALER, "control", identity)
        sock.send(frame)
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s)
        while (left := deadline - time.monotonic()) > 0:
            if not sock.poll(max(1, int(left * 1000))):
                break
            doc = _loads(sock.recv_multipart()[-1])
            if isinstance(doc, dict) and doc.get("id") == rid:
                return doc
        # Lazy Pirate: a late reply must not be read as the answer to a later request.
        self._dealers.pop(identity).close(0)
        return None

    def call(self, cmd: str, args: dict[str, Any] | None = None, *, identity: str = "operator",
             timeout_s: float | None = None, **kw: Any) -> dict[str, Any] | None:
        rid, frame = self.frame(cmd, args, **kw)
        return self.send(rid, frame, identity, timeout_s)

    def must(self, cmd: str, args: dict[str, Any] | None = None, *, identity: str = "operator", **kw: Any
             ) -> dict[str, Any]:
        reply = self.call(cmd, args, identity=identity, **kw)
        if reply is None:
            raise NoReply(f"no reply to {cmd} ({identity} key) within {self.timeout_s} s")
        return reply

    def raw(self, frames: list[bytes], identity: str = "operator", timeout_s: float | None = None
            ) -> dict[str, Any] | bytes | None:
        """Frames on a fresh DEALER; the first reply (parsed when it is JSON, else the bytes) or None."""
        sock = self.socket(zmq.DEALER, "control", identity)
        try:
            sock.send_multipart(frames)
            if not sock.poll(int((timeout_s if timeout_s is not None else self.timeout_s) * 1000)):
                return None
            body = sock.recv_multipart()[-1]
            doc = _loads(body)
            return doc if isinstance(doc, dict) else body
        finally:
            sock.close(0)

    # --- rewind ----------------------------------------------------------------------------------------------
    def rewind(self, req: dict[str, Any], identity: str = "monitor", timeout_s: float = 15.0) -> RewindAnswer:
        import numpy as np

        from core_bridge.protocol import decode_batch

        sock = self.socket(zmq.DEALER, "rewind", identity)
        ans = RewindAnswer()
        parts: list[np.ndarray] = []
        try:
            sock.send(orjson.dumps(req))
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sock.poll(max(1, int(left * 1000))):
                    ans.error = f"no end frame within {timeout_s} s"
                    break
                frames = sock.recv_multipart()
                if len(frames) == 1:
                    end = _loads(frames[0])
                    ans.end = end if isinstance(end, dict) else None
                    if ans.end is None:
                        ans.error = "the end frame is not a JSON object"
                    break
                if len(frames) != 2:
                    ans.error = f"a rewind message of {len(frames)} frames"
                    break
                try:
                    hdr, recs = decode_batch(frames[0], frames[1])
                except ValueError as exc:
                    ans.error = f"undecodable chunk: {exc}"
                    break
                if hdr.epoch != req.get("epoch"):
                    ans.error = f"a chunk of epoch {hdr.epoch} for a rewind of epoch {req.get('epoch')}"
                ans.chunks.append(len(recs))
                parts.append(recs.copy())
        finally:
            sock.close(0)
        if parts:
            ans.records = np.concatenate(parts)
        return ans


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def core_fields(reply: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reply fields §3 says a replay repeats; others (e.g. a newer `durable_version`) are not compared."""
    if reply is None:
        return None
    return {k: reply.get(k) for k in ("id", "ok", "code", "state_version", "result")}
