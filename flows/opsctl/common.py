"""What every opsctl command shares: exit codes, one-line errors (text or JSON), JSON printing, date options.

Why a module of its own: the on-call engineer reads one line, not a traceback or a boxed usage panel, and
a script reads the exit code. Commands raise `Fail` (or let a `flows.errors.OpsError` or a click usage
error through); `run_app` turns each into `opsctl: <kind>: <message>` on stderr, or a JSON object on stdout
when the command line has `--json`, and the exit code below.
"""

from __future__ import annotations

import enum
import json
import sys
from typing import Any, NoReturn


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1  # a run or check failed (a run not Completed, a finding, a refusal)
    USAGE = 2  # bad or missing argument or option
    UNAVAILABLE = 3  # no Prefect server, or no such deployment / run / report on it
    CONFIG = 4  # the data home or configuration is not usable


EXIT_HELP = (
    "Exit codes: 0 ok; 1 a run failed (or a check found problems, or was refused); 2 usage; "
    "3 Prefect server, deployment or report missing; 4 data home or configuration problem."
)


class Fail(Exception):
    """An opsctl error with its exit code; `kind` is a short machine-readable word (usage, no_server, …)."""

    def __init__(self, code: ExitCode, kind: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message
        self.extra = extra or {}


def fail(code: ExitCode, kind: str, message: str, extra: dict[str, Any] | None = None) -> NoReturn:
    raise Fail(code, kind, message, extra)


def echo_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def report(err: Fail, as_json: bool) -> int:
    """Print one error the way the invocation asked for; return its exit code."""
    if as_json:
        echo_json({"ok": False, "error": err.kind, "message": err.message, "exit_code": int(err.code)} | err.extra)
    else:
        sys.stderr.write(f"opsctl: {err.kind}: {err.message}\n")
    return int(err.code)


def business_date(value: str | None, option: str = "--date") -> str:
    """An ISO business date from an option (None: today in New York); a usage error when malformed."""
    from flows.dates import parse_date

    try:
        return parse_date(value).isoformat()
    except ValueError:
        fail(ExitCode.USAGE, "usage", f"{option} must be a date YYYY-MM-DD, got {value!r}")
