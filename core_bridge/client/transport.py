"""The control socket under CoreClient (core_bridge.client.commands): one generic `call` for every command.

Why it looks like this:

- **Deadlines everywhere.** A CURVE client whose key the core does not know gets no error from ZeroMQ (its
  messages just stay queued), and a core that is down looks the same. So every attempt has a deadline.
- **Lazy Pirate.** On a timeout the DEALER is closed (linger 0, so nothing stale is sent later) and a new
  one is opened; the *same frame* (same idempotency key, same expiry) is sent again. The core applies an id
  at most once and replays the original reply to a repeat, so a retried command is applied once.
- **Explicit outcomes.** An ack returns the decoded `Reply`; a refusal raises `CommandError` (or
  `RoleDeniedError`); no ack after the last attempt raises `NoAckError` (`AuthRefusedError` when the socket
  monitor saw the core refuse our key during the handshake, which no retry can fix).
- **Audited at the source.** Every mutating command attempt, and every failed read, is appended to the
  audit log here, so corectl and the flows are audited the same way (`core_bridge.audit`; what a line
  holds is core_bridge.client.audit_trail).
- **Cheap to import.** Only zmq, orjson, the stdlib and light core_bridge modules: `corectl kill` is a
  cold process at 3 a.m. Key files are read by core_bridge.client.keyfile rather than through
  `core_bridge.auth`, which pulls in `zmq.auth.thread` (and asyncio) for the server side.
- **Protocol v2, with v1 cores still served.** Requests go out as v2; a core that refuses the version
  (`MSG_VERSION_UNSUPPORTED`) gets the same request again in the newest version it lists (a v1 core's ack
  is durable, as v1 says). A v2 ack means *applied*; `reply.durable` says whether it is durable yet, and
  `call(..., wait_durable=True)` waits for the core's durable follow-up (docs/protocol.md §3.8). The audit
  records when the ack came (`applied_ns`) and when durability was confirmed (`durable_ns`).
- **Follows the active node** of a Binary Star pair: with [primary, standby] endpoints, an attempt that
  times out, or a HA_NOT_ACTIVE / HA_FENCED answer from a passive node, moves the client to the other node
  and the *same frame* is sent there (same idempotency key: the pair replicates the applied ids, so it is
  applied once). A passive answer costs no retry; the budget (timeout_ms x attempts) still bounds the call.
  The chosen node sticks for later calls (`_endpoint`).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Self

import orjson
import zmq

from core_bridge.audit import SENT, AuditLog, AuditRecord, default_path
from core_bridge.client.audit_trail import Attempt, LineEncoder, Outcome, attempt_record
from core_bridge.client.ids import derive_id, fresh_id
from core_bridge.client.keyfile import read_curve_key
from core_bridge.errors import (
    AuthRefusedError,
    CommandError,
    ConfigError,
    NoAckError,
    ProtocolError,
    RoleDeniedError,
)
from core_bridge.protocol import MUTATING, PROTOCOL_VERSION, SUPPORTED_VERSIONS, Command, Reply

DEFAULT_TIMEOUT_MS = 1500
DEFAULT_RETRIES = 2  # attempts = 1 + retries
FOLLOW_CODES = frozenset({"HA_NOT_ACTIVE", "HA_FENCED"})  # a passive node: the active one is elsewhere
PASSIVE_PAUSE_S = 0.02  # the only reachable node is passive: give it time to see its peer lost

# Handshake events that mean "the core (or something pretending to be it) will not talk to this key".
# EVENT_HANDSHAKE_FAILED_AUTH is what a ZAP refusal of our public key looks like from the client side
# (ZMTP ERROR "400"); a wrong server key ends in a protocol failure instead.
AUTH_FAILURE_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
_MONITOR_HEADER = struct.Struct("=HI")


class _SentLine:
    """The generation of a call's sent audit line, once written (0: not yet)."""

    __slots__ = ("gen",)

    def __init__(self) -> None:
        self.gen = 0


def likely_tightening(command: Command, args: Mapping[str, Any]) -> bool:
    """Whether a command will almost surely be a tightening control (acked before it is durable): a kill to a
    level other than ACTIVE, or a cancel-all. Only when the audit flushes is chosen by it; a wrong guess is
    corrected by the reply (docs/protocol.md §3.8 decides on the core)."""
    if command is Command.CANCEL_ALL:
        return True
    return command is Command.SET_KILL and args.get("level") not in (None, "ACTIVE")


class ControlChannel:
    """The control socket of one client: connection, deadlines, retries, HA following and auditing of `call`.

    `endpoints` is the control endpoint (or a list: the first is used; HA will make `_endpoint` follow the
    active node). `identity` names the CURVE keypair under `keys_dir/clients/` and so, at the core, the role.
    `operator` is the human or flow on whose behalf commands are sent (recorded by the core and the audit log).
    `timeout_ms` is the deadline of one attempt; `retries` how many times a timed-out request is re-sent.
    `audit`: True writes `COLO_OPS_HOME/audit/control.jsonl`; an AuditLog writes there; False disables
    auditing (only for measuring the bare path).

    Not thread-safe: a ZeroMQ socket belongs to one thread at a time; use one client per thread.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str],
        keys_dir: Path | str,
        *,
        identity: str = "operator",
        operator: str | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        retries: int = DEFAULT_RETRIES,
        audit: AuditLog | bool = True,
        context: zmq.Context | None = None,
    ) -> None:
        self.endpoints = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        if not self.endpoints:
            raise ConfigError("no control endpoint given")
        if timeout_ms <= 0 or retries < 0:
            raise ConfigError(f"timeout_ms must be > 0 and retries >= 0 (got {timeout_ms}, {retries})")
        self.keys_dir = Path(keys_dir)
        self.identity = identity
        self.operator = operator or os.environ.get("USER") or "unknown"
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.audit: AuditLog | None = AuditLog(default_path()) if audit is True else (audit or None)
        self.auth_failures = 0  # handshake refusals seen by the socket monitor since construction
        self.sends = 0  # request frames sent, retries included (tests and metrics watch it)
        self.version = PROTOCOL_VERSION  # the protocol spoken; lowered once by a core of an older one
        self.last_outcome: Outcome | None = None  # of the last acked call: applied_ns, durable_ns
        self._active = 0  # index into endpoints; HA moves it
        self._public, self._secret = read_curve_key(self.keys_dir / "clients" / f"{identity}.key_secret")
        if self._secret is None:
            raise ConfigError("client key file has no secret key", self.keys_dir / "clients" / f"{identity}.key_secret")
        self._server_key, _ = read_curve_key(self.keys_dir / "core.key")
        self._own_ctx = context is None
        self._ctx = context or zmq.Context()
        self._sock: zmq.Socket | None = None
        self._mon: zmq.Socket | None = None
        self._poller: zmq.Poller | None = None
        self._sock_endpoint = ""
        self._role: str | None = None
        self._lines: LineEncoder | None = None  # the audit lines of the kill path (built on first use)
        self._last_refused = False

    # --- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._close_socket()
        if self.audit is not None:
            self.audit.close()
        if self._own_ctx:
            self._ctx.term()

    def _endpoint(self) -> str:
        """The endpoint the next attempt goes to: the node that last answered as active (or first listed)."""
        return self.endpoints[self._active]

    def _follow(self, away_from: set[int]) -> bool:
        """Move to the next endpoint not in `away_from`; False when there is none (stay put)."""
        n = len(self.endpoints)
        for step in range(1, n):
            i = (self._active + step) % n
            if i not in away_from:
                self._active = i
                return True
        return False

    def _open_socket(self, endpoint: str) -> zmq.Socket:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)  # a closed socket must never deliver a stale request later
        sock.setsockopt(zmq.RECONNECT_IVL, 50)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        sock.curve_publickey = self._public
        sock.curve_secretkey = self._secret
        sock.curve_serverkey = self._server_key
        mon = sock.get_monitor_socket(AUTH_FAILURE_EVENTS)
        sock.connect(endpoint)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(mon, zmq.POLLIN)
        self._sock, self._mon, self._poller, self._sock_endpoint = sock, mon, poller, endpoint
        return sock

    def _close_socket(self) -> None:
        if self._sock is not None:
            try:
                self._sock.disable_monitor()
            except zmq.ZMQError:
                pass
            self._sock.close(linger=0)
        if self._mon is not None:
            self._mon.close(linger=0)
        self._sock = self._mon = self._poller = None

    def _drain_monitor(self) -> int:
        """Count auth-failure events waiting on the monitor socket; returns how many were new."""
        seen = 0
        mon = self._mon
        while mon is not None:
            try:
                frames = mon.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if frames and len(frames[0]) >= _MONITOR_HEADER.size:
                event, _value = _MONITOR_HEADER.unpack_from(frames[0])
                if event & AUTH_FAILURE_EVENTS:
                    seen += 1
        self.auth_failures += seen
        return seen

    # --- the generic call ------------------------------------------------------------------------------
    def call(
        self,
        cmd: Command | str,
        args: Mapping[str, Any] | None = None,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
        wait_durable: bool = False,
    ) -> Reply:
        """Send one command and return the core's ack; raises CommandError/RoleDeniedError/NoAckError.

        The ack means *applied*. Under protocol v2 a tightening control is acked before it is durable
        (`reply.durable` False); with `wait_durable` the call then also waits, within one attempt's deadline,
        for the core's follow-up saying it is durable (`reply.durable` tells whether it came). Every other
        mutating command is acked by the core only once durable."""
        command = Command(cmd)
        body = dict(args or {})
        req_id = derive_id(idempotency_key, command.value, body) if idempotency_key else fresh_id(self.identity)
        budget_ms = self.timeout_ms * (self.retries + 1)
        # The command expires when the client gives up: the core must not apply it after we have reported
        # "no ack" to the operator.
        expires_ns = time.time_ns() + budget_ms * 1_000_000
        att = Attempt(command, body, reason, req_id, time.perf_counter())
        after_send: Callable[[], None] | None = None
        sent = _SentLine()
        audit = self.audit
        if audit is not None and command in MUTATING:
            if self.version >= 2 and not wait_durable and likely_tightening(command, body):
                # A kill's round trip carries no audit work: its sent line is written while the core works
                # and flushed by the group commit, its outcome line is written off the caller's path
                # (core_bridge.audit). Should the core answer "durable" (it was a loosening after all), the
                # sent line is flushed before the outcome is reported, as for any loosening.
                after_send = partial(self._write_sent, audit, att, sent)
            else:
                # Write-ahead: the sent line is written before the command leaves; its flush starts as the
                # command leaves, on the flusher thread, overlapping the round trip.
                sent.gen = audit.write(self._record(att, None, None, phase=SENT))
                after_send = partial(audit.sync_soon, sent.gen)
        outcome: Outcome | None = None
        try:
            outcome = self._exchange(command, req_id, self._frame(command, req_id, reason, expires_ns, body,
                                                                  wait_durable), after_send)
            reply = outcome.reply
            assert reply is not None
            if reply.code == "MSG_VERSION_UNSUPPORTED" and self._downgrade(reply):
                # A core of an older protocol: the same request in the newest version it speaks (refusals are
                # not remembered by the core, so the id is free).
                outcome = self._exchange(command, req_id, self._frame(command, req_id, reason, expires_ns, body,
                                                                      wait_durable))
        except (NoAckError, ProtocolError) as exc:
            if audit is not None and sent.gen:
                audit.sync(upto=sent.gen)
            self._audit(att, None, exc, lazy=bool(sent.gen))
            raise
        reply = outcome.reply
        assert reply is not None
        if audit is not None and sent.gen and (reply.durable or wait_durable or not reply.ok or reply.v < 2):
            audit.sync(upto=sent.gen)  # only an applied-not-yet-durable tightening ack goes on without it
        if reply.ok:
            if reply.durable:
                outcome.durable_ns = outcome.applied_ns
            elif wait_durable:
                self._await_durable(reply, outcome)
            if audit is not None and sent.gen and not reply.durable and outcome.durable_ns is None:
                done_ms = round((time.perf_counter() - att.t0) * 1000, 3)
                audit.write_later(partial(LineEncoder.ok, att, outcome, done_ms, outcome.applied_ns or time.time_ns()))
            else:
                self._audit(att, outcome, None, lazy=bool(sent.gen))
            self.last_outcome = outcome
            return reply
        err_cls = RoleDeniedError if reply.code == "AUTH_ROLE_DENIED" else CommandError
        err = err_cls(command.value, reply.code, reply.message, reply)
        self._audit(att, outcome, err, lazy=bool(sent.gen))
        raise err

    def _frame(self, command: Command, req_id: str, reason: str, expires_ns: int, body: dict[str, Any],
               wait_durable: bool) -> bytes:
        doc: dict[str, Any] = {"v": self.version, "cmd": command.value, "id": req_id, "operator": self.operator,
                               "reason": reason, "expires_ns": expires_ns, "args": body}
        if wait_durable and self.version >= 2:
            doc["durable_notify"] = True
        return orjson.dumps(doc)

    def _downgrade(self, refusal: Reply) -> bool:
        """After MSG_VERSION_UNSUPPORTED: switch to the newest version both sides speak; False if none (or
        already there). The refusal's result lists the core's versions (v2 cores); a v1 core lists none, and
        its reply's `v` is the version it speaks."""
        offered = refusal.result.get("versions")
        theirs = {int(v) for v in offered if isinstance(v, int)} if isinstance(offered, list) else {refusal.v}
        common = sorted(theirs & set(SUPPORTED_VERSIONS))
        if not common or common[-1] >= self.version:
            return False
        self.version = common[-1]
        return True

    def _await_durable(self, reply: Reply, outcome: Outcome) -> None:
        """Wait (one attempt's deadline) on the socket the ack came on for the core's durable follow-up."""
        sock, poller = self._sock, self._poller
        if sock is None or poller is None or reply.v < 2:
            return
        deadline = time.monotonic() + self.timeout_ms / 1000
        while (left := deadline - time.monotonic()) > 0:
            if sock not in dict(poller.poll(max(1, int(left * 1000)))):
                continue
            try:
                note = Reply.decode(sock.recv_multipart()[-1])
            except (ValueError, KeyError, TypeError):
                continue
            if note.id == reply.id and note.followup == "durable" and note.durable_version is not None:
                reply.durable_version = note.durable_version
                outcome.durable_ns = time.time_ns()
                return

    def _exchange(self, command: Command, req_id: str, frame: bytes,
                  after_send: Callable[[], None] | None = None) -> Outcome:
        """Send (and re-send) until a reply; `after_send` runs once, after the first send, while the core works."""
        attempts = 0
        start = time.monotonic()
        budget_end = start + self.timeout_ms * (self.retries + 1) / 1000
        endpoint = self._endpoint()
        silent: set[int] = set()  # endpoints that timed out during this call
        passive: Reply | None = None
        while attempts <= self.retries:
            attempts += 1
            endpoint = self._endpoint()
            sock = self._sock if self._sock is not None and self._sock_endpoint == endpoint else None
            if sock is None:
                self._close_socket()
                sock = self._open_socket(endpoint)
            sock.send(frame)
            self.sends += 1
            if after_send is not None:
                after_send()
                after_send = None
            reply = self._await_reply(req_id, endpoint, command)
            if reply is not None:
                if reply.code not in FOLLOW_CODES or len(self.endpoints) == 1:
                    return Outcome(reply, attempts, endpoint, time.time_ns())
                # A passive node: try the other one, or wait for this one to take over. Not a retry.
                passive = reply
                attempts -= 1
                if time.monotonic() >= budget_end:
                    return Outcome(reply, attempts + 1, endpoint, time.time_ns())
                if not self._follow(silent | {self._active}):
                    time.sleep(PASSIVE_PAUSE_S)  # bounded by the call's budget
                continue
            # Lazy Pirate: the reply may never come on this socket; drop it so a late one cannot confuse us.
            self._close_socket()
            if self._last_refused:
                raise AuthRefusedError(endpoint, command.value, attempts, (time.monotonic() - start) * 1000)
            silent.add(self._active)
            if not self._follow(silent) and len(self.endpoints) > 1:
                silent.clear()
                self._follow(set())
        if passive is not None:
            return Outcome(passive, attempts, endpoint, time.time_ns())
        raise NoAckError(endpoint, command.value, attempts, (time.monotonic() - start) * 1000)

    def _await_reply(self, req_id: str, endpoint: str, command: Command) -> Reply | None:
        self._last_refused = False
        deadline = time.monotonic() + self.timeout_ms / 1000
        sock, mon, poller = self._sock, self._mon, self._poller
        assert sock is not None and mon is not None and poller is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            events = dict(poller.poll(max(1, int(remaining * 1000))))
            if mon in events and self._drain_monitor():
                # The core refused our key: no reply will ever come; retrying cannot help.
                self._last_refused = True
                return None
            if sock in events:
                frames = sock.recv_multipart()
                try:
                    reply = Reply.decode(frames[-1])
                except (ValueError, KeyError, TypeError) as exc:
                    raise ProtocolError(f"malformed reply to {command.value}: {exc}", endpoint) from None
                if reply.id == req_id and not reply.followup:
                    return reply
                # A reply to some other id (or a late durable follow-up) is not ours; keep waiting.

    def _audit(self, att: Attempt, outcome: Outcome | None, error: Exception | None, *, lazy: bool) -> None:
        """One outcome line: flushed lazily (`lazy`: the attempt's sent line is already in the log), else
        before returning."""
        if self.audit is None:
            return
        # Successful reads change nothing and `watch` polls them every second: only failures are kept.
        if att.command not in MUTATING and error is None:
            return
        record = self._record(att, outcome, error)
        if lazy:
            self.audit.append_lazy(record)
        else:
            self.audit.append(record)

    def _write_sent(self, audit: AuditLog, att: Attempt, sent: _SentLine) -> None:
        """The sent line of a command already on the wire, encoded while the core works on it; written and
        flushed by the audit's group commit (or by the sync a durable ack asks for)."""
        sent.gen = audit.write_soon(self._sent_line(att))

    def _sent_line(self, att: Attempt) -> bytes:
        if self._lines is None:
            self._lines = LineEncoder(self.operator, self.identity, self.role_name())
        return self._lines.sent(att, self._endpoint())

    def _record(self, att: Attempt, outcome: Outcome | None, error: Exception | None, *,
                phase: str = "outcome") -> AuditRecord:
        return attempt_record(att, outcome, error, operator=self.operator, identity=self.identity,
                              role=self.role_name(), endpoint=self._endpoint(), phase=phase)

    def role_name(self) -> str | None:
        """Our key's role as the key registry beside the keys says (None when there is no registry here)."""
        if self._role is None:
            try:
                entries = orjson.loads((self.keys_dir / "roles.json").read_bytes())
                self._role = str(entries.get(self._public.decode(), {}).get("role") or "")
            except (OSError, orjson.JSONDecodeError, AttributeError):
                self._role = ""
        return self._role or None
