"""The plumbing every corectl command shares, kept free of typer so the on-call fast path can use it.

Exit codes (also in `corectl --help` and docs/runbook-kill-switch.md):

    0  the core acknowledged (and, for status/watch, a heartbeat was seen)
    1  the core answered and refused (reason code printed)
    2  usage error (bad or missing option)
    3  no ack: the core did not answer before the deadline after every retry, or answered garbage
    4  configuration or authorisation: key files missing, key refused at the handshake, or our key's role
       is too low for the command (a monitor key cannot kill)
    5  status/watch: the core acknowledged but no heartbeat arrived on telemetry within the timeout
    6  --wait-durable: the core applied the change (acked) but did not confirm it durable within the timeout

Why it is a module of its own: `corectl kill` is run by a person in a hurry, as a cold process. A plain kill,
resume or cancel-all is parsed by `core_bridge.cli.fastpath` and run by the functions here, without typer
(~25 ms to import, ~100 ms of pydantic coercion) or anything heavier than zmq and orjson. So this module
imports only the stdlib, orjson and light core_bridge modules; settings, client and protocol load inside
the functions that need them. The typer command modules import it too, so both paths print the same ack,
the same errors and exit with the same codes.
"""

from __future__ import annotations

import enum
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

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

if TYPE_CHECKING:
    import typer


class ExitCode(enum.IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    NO_ACK = 3
    CONFIG = 4
    DEGRADED = 5
    NOT_DURABLE = 6
    NOT_FLAT = 7
    UNAPPROVED = 8


EXIT_HELP = (
    "Exit codes: 0 acknowledged; 1 refused by the core; 2 usage; 3 no ack (core down/unreachable); "
    "4 config/auth (missing keys, key refused, role too low); 5 acked but no heartbeat (status/watch); "
    "6 applied but not confirmed durable (--wait-durable); 7 kill to flat ended partial (--flatten: what is "
    "still open is printed); 8 limit raise refused for want of a valid four-eyes approval (limits set)."
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
        from core_bridge.client.commands import CoreClient

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


def options_from(ctx: typer.Context) -> Options:
    """The global options the root callback stored for this invocation."""
    obj = ctx.find_root().obj
    opts = obj.get("options") if isinstance(obj, dict) else None
    if not isinstance(opts, Options):  # a command run without the root callback (direct invocation in code)
        opts = Options(None, None, default_key(), None, 1500, 2, False, None)
    return opts


def json_options(ctx: typer.Context, local: bool) -> Options:
    """The global options, with a command's own --json honoured like the root one."""
    opts = options_from(ctx)
    opts.json = opts.json or local
    return opts


# --- output and errors -------------------------------------------------------------------------------------


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def fail(opts: Options, code: ExitCode, kind: str, message: str, extra: dict[str, Any] | None = None) -> NoReturn:
    if opts.json:
        print_json({"ok": False, "error": kind, "message": message, "exit_code": int(code)} | (extra or {}))
    else:
        sys.stderr.write(f"corectl: {kind}: {message}\n")
    raise SystemExit(int(code))


def guard(opts: Options, fn: Callable[[], Any]) -> Any:
    """Run a client call and turn every bridge error into its exit code and message."""
    try:
        return fn()
    except RoleDeniedError as exc:
        fail(opts, ExitCode.CONFIG, "role_denied",
              f"{exc} - key '{opts.key}' may not do this; use an operator key (--key operator)",
              {"code": exc.code})
    except CommandError as exc:
        fail(opts, ExitCode.REFUSED, "refused", str(exc), {"code": exc.code})
    except AuthRefusedError as exc:
        fail(opts, ExitCode.CONFIG, "auth_refused",
              f"{exc} - the core refused key '{opts.key}' at the CURVE handshake (not in its roles.json)",
              {"endpoint": exc.endpoint})
    except NoAckError as exc:
        fail(opts, ExitCode.NO_ACK, "no_ack",
              f"{exc} - the command may or may not have been applied; check `corectl status`",
              {"endpoint": exc.endpoint, "attempts": exc.attempts})
    except ProtocolError as exc:
        fail(opts, ExitCode.NO_ACK, "bad_reply", str(exc))
    except ConfigError as exc:
        fail(opts, ExitCode.CONFIG, "config", str(exc))
    except ValueError as exc:
        fail(opts, ExitCode.USAGE, "usage", str(exc))
    except BridgeError as exc:
        fail(opts, ExitCode.NO_ACK, "error", str(exc))


def with_client(opts: Options, fn: Callable[[Any], Any]) -> Any:
    def run() -> Any:
        client = opts.client()
        try:
            return fn(client)
        finally:
            client.close()

    return guard(opts, run)


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


# --- kill, resume and cancel-all: run by the typer commands and by the fast path ---------------------------


def _durability(reply: Any, wait_durable: bool) -> dict[str, Any]:
    """What an ack says of durability (protocol v2: a tightening is acked when applied, before it is
    durable), as JSON fields; the text line is printed by `_print_ack`."""
    return {"applied": True, "durable": bool(reply.durable), "durable_version": reply.durable_version,
            "wait_durable": wait_durable}


def _print_ack(opts: Options, doc: dict[str, Any], head: str, reply: Any, wait_durable: bool) -> None:
    """`ACK ...: applied` (with `durable` when the ack itself was); with --wait-durable a `durable:` line once
    the core's follow-up came, else a NOT DURABLE line and exit 6."""
    late = doc.get("durable_after_ms") or 0  # > 0: the ack came before durability, a follow-up after
    if opts.json:
        print_json(doc)
    else:
        if reply.durable and not late:
            tail = "applied, durable"
        else:
            tail = "applied" + ("" if late else f" (core durable up to state version {reply.durable_version})")
        print(f"ACK {head} (state version {reply.state_version}): {tail}")
        if wait_durable and not reply.durable:
            print("NOT DURABLE: no durable confirmation from the core within the timeout (the change is applied;"
                  " a core restarted after an unclean stop comes up HALTED)")
        elif wait_durable and late:
            print(f"durable: state version {reply.state_version} on the core's disk (+{late:.1f} ms after the ack)")
    if wait_durable and not reply.durable:
        raise SystemExit(int(ExitCode.NOT_DURABLE))


def do_set_level(opts: Options, scope: tuple[str, str | None], level: str, reason: str, idem: str | None,
                 wait_durable: bool = False) -> None:
    """kill/resume: set one scope's level and print the ack (`applied`; with --wait-durable, `durable`)."""
    if not reason.strip():
        fail(opts, ExitCode.USAGE, "usage", "--reason must say why (it goes to the audit log)")
    sc, key = scope
    times: dict[str, int] = {}
    reply = with_client(opts, lambda c: _timed(times, c.set_kill(sc, key, level, reason, idempotency_key=idem,
                                                                 wait_durable=wait_durable), c))
    r = reply.result
    doc = {"ok": True, "command": "set_kill", "scope": sc, "key": key, "level": r.get("level", level),
           "previous": r.get("previous"), "state_version": reply.state_version, "id": reply.id,
           "code": reply.code, **_durability(reply, wait_durable), **times}
    where = "firm" if key is None else f"{sc} {key}"
    _print_ack(opts, doc, f"{where}: {doc['previous']} -> {doc['level']}", reply, wait_durable)


def do_cancel_all(opts: Options, scope: tuple[str, str | None], reason: str, idem: str | None,
                  wait_durable: bool = False) -> None:
    if not reason.strip():
        fail(opts, ExitCode.USAGE, "usage", "--reason must say why (it goes to the audit log)")
    sc, key = scope
    times: dict[str, int] = {}
    reply = with_client(opts, lambda c: _timed(times, c.cancel_all(sc, key, reason, idempotency_key=idem,
                                                                   wait_durable=wait_durable), c))
    doc = {"ok": True, "command": "cancel_all", "scope": sc, "key": key,
           "cancelled": reply.result.get("cancelled"), "state_version": reply.state_version, "id": reply.id,
           **_durability(reply, wait_durable), **times}
    _print_ack(opts, doc, f"cancel-all {sc}{' ' + key if key else ''}: {doc['cancelled']} order(s)", reply,
               wait_durable)


def _timed(times: dict[str, int], reply: Any, client: Any) -> Any:
    """Keep the client's applied/durable times of the last call (from its last audit outcome) in `times`."""
    last = getattr(client, "last_outcome", None)
    if last is not None:
        times["applied_ns"] = last.applied_ns
        times["durable_ns"] = last.durable_ns
        if last.applied_ns is not None and last.durable_ns is not None:
            times["durable_after_ms"] = round((last.durable_ns - last.applied_ns) / 1e6, 3)
    return reply


def scope_or_usage(opts: Options, firm: bool, account: str | None, symbol: str | None,
                   venue: str | None) -> tuple[str, str | None]:
    try:
        return scope_of(firm, account, symbol, venue)
    except ValueError as exc:
        fail(opts, ExitCode.USAGE, "usage", str(exc))


KILL_LEVELS = ("HALTED", "CANCEL_ONLY", "REDUCE_ONLY")


def kill_level(opts: Options, level: str) -> str:
    try:
        return _level(level, KILL_LEVELS)
    except ValueError as exc:
        fail(opts, ExitCode.USAGE, "usage", f"{exc} (use `corectl resume` for ACTIVE)")
