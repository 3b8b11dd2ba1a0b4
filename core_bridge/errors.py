"""Every error core_bridge raises, in one place.

    BridgeError
    ├── ConfigError            settings or key files missing/invalid (carries the path)
    ├── AuthError              key material missing, or the core refused our role (carries the command)
    ├── CommandError           the core replied but did not apply the command (carries command + reason code)
    │   └── RoleDeniedError    the core said our key's role is too low
    ├── NoAckError             no reply before the deadline after every retry (carries endpoint + command)
    │   └── AuthRefusedError   ...because the core refused our CURVE key at the handshake (seen by the monitor)
    ├── ProtocolError          a frame we received is malformed (carries endpoint)
    ├── JournalError           journal segment damaged, chain broken, or sequence out of order
    │   └── JournalCorruptError  a specific record or seal failed verification (carries file + record)
    ├── ClockLogError          a clock-sync log line does not parse (carries file + line)
    └── ApprovalError          a limit raise lacks a valid four-eyes approval record (carries the field at fault)
"""

from __future__ import annotations

from pathlib import Path


class BridgeError(Exception):
    """Base of every core_bridge error."""


class ConfigError(BridgeError):
    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(f"{message} ({path})" if path else message)
        self.path = path


class AuthError(BridgeError):
    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message)
        self.command = command


class CommandError(BridgeError):
    """The core answered and refused; `code` is the ReasonCode name, `reply` the decoded reply."""

    def __init__(self, command: str, code: str, message: str = "", reply: object | None = None) -> None:
        super().__init__(f"{command} refused: {code}" + (f" ({message})" if message else ""))
        self.command = command
        self.code = code
        self.reply = reply


class RoleDeniedError(CommandError):
    pass


class NoAckError(BridgeError):
    def __init__(self, endpoint: str, command: str, attempts: int, waited_ms: float) -> None:
        super().__init__(
            f"no ack for {command} from {endpoint} after {attempts} attempt(s), {waited_ms:.0f} ms"
        )
        self.endpoint = endpoint
        self.command = command
        self.attempts = attempts


class AuthRefusedError(NoAckError):
    """No ack, and the socket monitor saw the core refuse our key during the CURVE handshake."""


class ProtocolError(BridgeError):
    def __init__(self, message: str, endpoint: str | None = None) -> None:
        super().__init__(f"{message} [{endpoint}]" if endpoint else message)
        self.endpoint = endpoint


class JournalError(BridgeError):
    pass


class JournalCorruptError(JournalError):
    def __init__(self, message: str, path: Path | str | None = None, record: int | None = None) -> None:
        where = f" in {path}" if path else ""
        where += f" at record {record}" if record is not None else ""
        super().__init__(message + where)
        self.path = path
        self.record = record


class ClockLogError(BridgeError):
    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}: line {line}: {message}")
        self.path = path
        self.line = line


class ApprovalError(BridgeError):
    """A limit raise without a valid approval: missing, same identity as the requester, not matching the change,
    expired, or permanent without an admin. `field` names what is at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
