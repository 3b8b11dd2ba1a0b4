"""`corectl`: the on-call CLI for the trading core's control plane.

Exit codes (also in `corectl --help` and docs/runbook-kill-switch.md):

    0  the core acknowledged (and, for status/watch, a heartbeat was seen)
    1  the core answered and refused (reason code printed)
    2  usage error (bad or missing option)
    3  no ack: the core did not answer before the deadline after every retry, or answered garbage
    4  configuration or authorisation: key files missing, key refused at the handshake, or our key's role
       is too low for the command (a monitor key cannot kill)
    5  status/watch: the core acknowledged but no heartbeat arrived on telemetry within the timeout

Why it is built like this: `corectl kill` is run by a person in a hurry, as a cold process. This module
holds the entry point, the shared option/exit/output logic and a small parser for plain kill, resume and
cancel-all invocations, and imports only zmq, orjson and light core_bridge modules on that path. Every
other invocation (and any kill this parser does not fully understand, --help included) goes to the typer
app in `core_bridge.cli_commands`: typer costs ~25 ms to import and coerces every parameter through
pydantic (~100 ms). rich is imported by `watch` alone; the journal sub-commands are loaded only when asked
for. The bench (`make bench B=control`) measures the cold kill.
"""

from __future__ import annotations

import enum
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import orjson

from core_bridge.errors import (
    AuthRefusedError,
    BridgeError,
    CommandError,
    ConfigError,
    NoAckError,
    ProtocolError,
    RoleDeniedError,
)


class ExitCode(enum.IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    NO_ACK = 3
    CONFIG = 4
    DEGRADED = 5


EXIT_HELP = (
    "Exit codes: 0 acknowledged; 1 refused by the core; 2 usage; 3 no ack (core down/unreachable); "
    "4 config/auth (missing keys, key refused, role too low); 5 acked but no heartbeat (status/watch)."
)

NY = "America/New_York"


@dataclass
class Options:
    """The global options of one corectl invocation, and what they resolve to (endpoints, keys, client)."""

    endpoint: str | None
    telemetry: str | None
    key: str
    operator: str | None
    timeout_ms: int
    retries: int
    json: bool
    keys_dir: Path | None

    def settings(self) -> Any:
        from core_bridge.settings import load_settings

        return load_settings()

    def _local_twin(self) -> dict[str, Any]:
        """Endpoints a locally started twin wrote (<home>/run/twin-primary.json), if any."""
        try:
            doc = orjson.loads((Path(self.settings().run_dir) / "twin-primary.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        eps = doc.get("endpoints") if isinstance(doc, dict) else None
        return eps if isinstance(eps, dict) else {}

    def _configured(self, socket: str) -> str:
        """Precedence: explicit setting (COLO_OPS_CORE_PRIMARY_<SOCKET>), a local twin's file, default ports."""
        s = self.settings()
        explicit = s.get(f"core.primary.{socket}")
        if explicit:
            return str(explicit)
        twin = self._local_twin().get(socket)
        return str(twin) if twin else str(s.core_endpoint(socket))

    def control_endpoint(self) -> str:
        return self.endpoint or self._configured("control")

    def telemetry_endpoint(self) -> str:
        if self.telemetry:
            return self.telemetry
        if self.endpoint:
            from core_bridge.telemetry import telemetry_endpoint_for

            return telemetry_endpoint_for(self.endpoint)
        return self._configured("telemetry")

    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or Path(self.settings().keys_dir)

    def client(self) -> Any:
        from core_bridge.client import CoreClient

        s = self.settings()
        return CoreClient(
            self.control_endpoint(),
            self.keys_dir or s.keys_dir,
            identity=self.key,
            operator=self.operator or s.operator,
            timeout_ms=self.timeout_ms,
            retries=self.retries,
        )


def default_key() -> str:
    """The key identity when --key is not given: setting `key` (COLO_OPS_KEY / colo-ops.toml), else operator."""
    from core_bridge.settings import load_settings

    return str(load_settings().get("key") or "operator")


# --- output and errors -------------------------------------------------------------------------------------


def _print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def _fail(opts: Options, code: ExitCode, kind: str, message: str, extra: dict[str, Any] | None = None) -> NoReturn:
    if opts.json:
        _print_json({"ok": False, "error": kind, "message": message, "exit_code": int(code)} | (extra or {}))
    else:
        sys.stderr.write(f"corectl: {kind}: {message}\n")
    raise SystemExit(int(code))


def _guard(opts: Options, fn: Callable[[], Any]) -> Any:
    """Run a client call and turn every bridge error into its exit code and message."""
    try:
        return fn()
    except RoleDeniedError as exc:
        _fail(opts, ExitCode.CONFIG, "role_denied",
              f"{exc} - key '{opts.key}' may not do this; use an operator key (--key operator)",
              {"code": exc.code})
    except CommandError as exc:
        _fail(opts, ExitCode.REFUSED, "refused", str(exc), {"code": exc.code})
    except AuthRefusedError as exc:
        _fail(opts, ExitCode.CONFIG, "auth_refused",
              f"{exc} - the core refused key '{opts.key}' at the CURVE handshake (not in its roles.json)",
              {"endpoint": exc.endpoint})
    except NoAckError as exc:
        _fail(opts, ExitCode.NO_ACK, "no_ack",
              f"{exc} - the command may or may not have been applied; check `corectl status`",
              {"endpoint": exc.endpoint, "attempts": exc.attempts})
    except ProtocolError as exc:
        _fail(opts, ExitCode.NO_ACK, "bad_reply", str(exc))
    except ConfigError as exc:
        _fail(opts, ExitCode.CONFIG, "config", str(exc))
    except ValueError as exc:
        _fail(opts, ExitCode.USAGE, "usage", str(exc))
    except BridgeError as exc:
        _fail(opts, ExitCode.NO_ACK, "error", str(exc))


def _with_client(opts: Options, fn: Callable[[Any], Any]) -> Any:
    def run() -> Any:
        client = opts.client()
        try:
            return fn(client)
        finally:
            client.close()

    return _guard(opts, run)


# --- scope parsing -----------------------------------------------------------------------------------------


def scope_of(firm: bool, account: str | None, symbol: str | None, venue: str | None) -> tuple[str, str | None]:
    """Exactly one of --firm/--account/--symbol/--venue -> (scope, key); ValueError otherwise."""
    given = [(s, k) for s, k in (("firm", None if firm else ""), ("account", account), ("symbol", symbol),
                                  ("venue", venue)) if (s == "firm" and firm) or (s != "firm" and k)]
    if len(given) != 1:
        raise ValueError("give exactly one scope: --firm, --account ACCT, --symbol SYM or --venue NSDQ|NYSE|ARCA")
    scope, key = given[0]
    if scope == "venue":
        from core_bridge.protocol import Venue

        names = [v.name for v in Venue if v is not Venue.NONE]
        if key is None or key.upper() not in names:
            raise ValueError(f"unknown venue {key!r}; one of {', '.join(names)}")
        key = key.upper()
    elif scope == "symbol" and key is not None:
        key = key.upper()
    return scope, key


def _level(text: str, allowed: tuple[str, ...]) -> str:
    t = text.strip().upper().replace("-", "_")
    if t not in allowed:
        raise ValueError(f"level {text!r} not one of {', '.join(allowed)}")
    return t


# --- time parsing (America/New_York at the edge, UTC ns inside) -------------------------------------------

_REL = re.compile(r"^([+-]?)(\d+)\s*([smhd])$")
_UNIT_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}


def _ny() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(NY)


def _parse_iso(text: str) -> int:
    from datetime import datetime

    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:  # a time without zone is New York time, as on the trading floor
        dt = dt.replace(tzinfo=_ny())
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def parse_until(text: str, now_ns: int | None = None) -> int:
    """`--until` for a temporary limit change: HH:MM (today, New York), +30m/+2h, or ISO-8601. Must be future."""
    from datetime import datetime

    now = now_ns if now_ns is not None else time.time_ns()
    t = text.strip()
    m = _REL.match(t)
    if m and m.group(1) != "-":
        until = now + int(m.group(2)) * _UNIT_NS[m.group(3)]
    elif re.fullmatch(r"\d{1,2}:\d{2}", t):
        hh, mm = (int(x) for x in t.split(":"))
        if hh > 23 or mm > 59:
            raise ValueError(f"--until {text!r}: not a time of day")
        today = datetime.fromtimestamp(now / 1e9, _ny())
        target = today.replace(hour=hh, minute=mm, second=0, microsecond=0)
        until = int(target.timestamp()) * 1_000_000_000
    else:
        try:
            until = _parse_iso(t)
        except ValueError:
            raise ValueError(f"--until {text!r}: use HH:MM (New York), +30m / +2h, or ISO-8601") from None
    if until <= now:
        raise ValueError(f"--until {text!r} is not in the future")
    return until


def parse_since(text: str, now_ns: int | None = None) -> int:
    """`--since` for the audit: 30m / 2h / 1d ago, `today` (New York midnight), or an ISO date/time."""
    from datetime import datetime

    now = now_ns if now_ns is not None else time.time_ns()
    t = text.strip()
    m = _REL.match(t)
    if m and m.group(1) != "+":
        return now - int(m.group(2)) * _UNIT_NS[m.group(3)]
    if t.lower() == "today":
        midnight = datetime.fromtimestamp(now / 1e9, _ny()).replace(hour=0, minute=0, second=0, microsecond=0)
        return int(midnight.timestamp()) * 1_000_000_000
    try:
        return _parse_iso(t)
    except ValueError:
        raise ValueError(f"--since {text!r}: use 30m / 2h / 1d, today, or an ISO date/time") from None


def parse_assignments(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise ValueError(f"{item!r} is not KEY=VALUE")
        out[k.strip().replace("-", "_")] = v.strip()
    return out


# --- command implementations shared by the typer app and the fast path -----------------------------------


def status_doc(result: dict[str, Any], state_version: int, hb_age: float | None, endpoint: str) -> dict[str, Any]:
    """The `status --json` object: the contract keys first, then everything the core said."""
    doc = {
        "role": result.get("ha_role"),
        "trading_state": result.get("trading_state"),
        "kill": result.get("kill"),
        "last_seq": result.get("last_seq"),
        "heartbeat_age_ms": hb_age,
        "limits_version": result.get("limits_version"),
    }
    return doc | {k: v for k, v in result.items() if k not in doc} | {
        "state_version": result.get("state_version", state_version),
        "endpoint": endpoint,
    }


def do_set_level(opts: Options, scope: tuple[str, str | None], level: str, reason: str, idem: str | None) -> None:
    """kill/resume: set one scope's level and print the ack."""
    if not reason.strip():
        _fail(opts, ExitCode.USAGE, "usage", "--reason must say why (it goes to the audit log)")
    sc, key = scope
    reply = _with_client(opts, lambda c: c.set_kill(sc, key, level, reason, idempotency_key=idem))
    r = reply.result
    doc = {"ok": True, "command": "set_kill", "scope": sc, "key": key, "level": r.get("level", level),
           "previous": r.get("previous"), "state_version": reply.state_version, "id": reply.id,
           "code": reply.code}
    if opts.json:
        _print_json(doc)
    else:
        where = "firm" if key is None else f"{sc} {key}"
        print(f"ACK {where}: {doc['previous']} -> {doc['level']} (state version {reply.state_version})")


def do_cancel_all(opts: Options, scope: tuple[str, str | None], reason: str, idem: str | None) -> None:
    if not reason.strip():
        _fail(opts, ExitCode.USAGE, "usage", "--reason must say why (it goes to the audit log)")
    sc, key = scope
    reply = _with_client(opts, lambda c: c.cancel_all(sc, key, reason, idempotency_key=idem))
    doc = {"ok": True, "command": "cancel_all", "scope": sc, "key": key,
           "cancelled": reply.result.get("cancelled"), "state_version": reply.state_version, "id": reply.id}
    if opts.json:
        _print_json(doc)
    else:
        print(f"ACK cancel-all {sc}{' ' + key if key else ''}: {doc['cancelled']} order(s) "
              f"(state version {reply.state_version})")


def _scope_or_usage(opts: Options, firm: bool, account: str | None, symbol: str | None,
                    venue: str | None) -> tuple[str, str | None]:
    try:
        return scope_of(firm, account, symbol, venue)
    except ValueError as exc:
        _fail(opts, ExitCode.USAGE, "usage", str(exc))


def _kill_level(opts: Options, level: str) -> str:
    try:
        return _level(level, KILL_LEVELS)
    except ValueError as exc:
        _fail(opts, ExitCode.USAGE, "usage", f"{exc} (use `corectl resume` for ACTIVE)")


KILL_LEVELS = ("HALTED", "CANCEL_ONLY", "REDUCE_ONLY")
# --- the on-call fast path ---------------------------------------------------------------------------------
# typer coerces every parameter through pydantic, which costs ~100 ms of a cold start. kill, resume and
# cancel-all are what a person types during an incident, so their plain, well-formed invocations are parsed
# here and run through the same functions as the typer commands. Anything this parser does not fully
# understand (--help, an unknown option, a missing value) goes to typer, which prints the proper usage error.
# A unit test keeps the option sets of both parsers identical.

FAST_GLOBAL_VALUES = {"--endpoint": "endpoint", "-e": "endpoint", "--telemetry": "telemetry", "--key": "key",
                      "-k": "key", "--operator": "operator", "-o": "operator", "--timeout": "timeout",
                      "-t": "timeout", "--retries": "retries", "--keys-dir": "keys_dir"}
FAST_COMMAND_VALUES = {"--account": "account", "-a": "account", "--symbol": "symbol", "-s": "symbol",
                       "--venue": "venue", "-v": "venue", "--level": "level", "-l": "level", "--reason": "reason",
                       "-r": "reason", "--id": "idem"}
FAST_FLAGS = {"--json": "json", "--firm": "firm"}
FAST_COMMANDS = ("kill", "resume", "cancel-all")


def parse_fast(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """(command, values) for a plain kill/resume/cancel-all invocation, else None (typer handles it)."""
    vals: dict[str, Any] = {}
    command: str | None = None
    i = 0
    while i < len(argv):
        tok = argv[i]
        name, eq, inline = tok.partition("=") if tok.startswith("--") else (tok, "", "")
        table = FAST_GLOBAL_VALUES if command is None else FAST_COMMAND_VALUES
        if command is None and not tok.startswith("-"):
            if tok not in FAST_COMMANDS:
                return None
            command = tok
        elif name in table:
            if eq:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                return None
            if table[name] in vals:
                return None  # repeated option: let typer decide
            vals[table[name]] = value
        elif tok in FAST_FLAGS and not eq and (tok == "--json" or command is not None):
            vals[FAST_FLAGS[tok]] = True
        else:
            return None
        i += 1
    if command is None or "reason" not in vals or ("level" in vals and command != "kill"):
        return None
    try:
        vals["timeout"] = int(vals.get("timeout", 1500))
        vals["retries"] = int(vals.get("retries", 2))
    except ValueError:
        return None
    if vals["timeout"] < 1 or vals["retries"] < 0:
        return None
    return command, vals


def run_fast(command: str, v: dict[str, Any]) -> int:
    opts = Options(v.get("endpoint"), v.get("telemetry"), v.get("key") or default_key(),
                   v.get("operator"), v["timeout"], v["retries"], bool(v.get("json")),
                   Path(v["keys_dir"]) if v.get("keys_dir") else None)
    try:
        scope = _scope_or_usage(opts, bool(v.get("firm")), v.get("account"), v.get("symbol"), v.get("venue"))
        if command == "cancel-all":
            do_cancel_all(opts, scope, v["reason"], v.get("idem"))
        else:
            level = _kill_level(opts, v.get("level", "HALTED")) if command == "kill" else "ACTIVE"
            do_set_level(opts, scope, level, v["reason"], v.get("idem"))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main() -> None:
    argv = sys.argv[1:]
    fast = parse_fast(argv)
    if fast is not None:
        sys.exit(run_fast(*fast))
    from core_bridge.cli_commands import add_journal_commands, app

    add_journal_commands(argv)
    app()


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer app, for code that expects `core_bridge.cli.app`
        from core_bridge.cli_commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
