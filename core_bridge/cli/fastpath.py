"""The on-call fast path: plain `corectl kill|resume|cancel-all` parsed and run without typer.

typer coerces every parameter through pydantic, which costs ~100 ms of a cold start. kill, resume and
cancel-all are what a person types during an incident, so their plain, well-formed invocations are parsed
here and run through the same functions as the typer commands (`core_bridge.cli.common`). Anything this
parser does not fully understand (--help, an unknown option, a missing value) goes to typer, which prints
the proper usage error. A unit test keeps the option sets of both parsers identical. The bench
(`make bench B=control`) measures the cold kill.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core_bridge.cli.common import Options, default_key, do_cancel_all, do_set_level, kill_level, scope_or_usage

FAST_GLOBAL_VALUES = {"--endpoint": "endpoint", "-e": "endpoint", "--telemetry": "telemetry", "--key": "key",
                      "-k": "key", "--operator": "operator", "-o": "operator", "--timeout": "timeout",
                      "-t": "timeout", "--retries": "retries", "--keys-dir": "keys_dir"}
FAST_COMMAND_VALUES = {"--account": "account", "-a": "account", "--symbol": "symbol", "-s": "symbol",
                       "--venue": "venue", "-v": "venue", "--level": "level", "-l": "level", "--reason": "reason",
                       "-r": "reason", "--id": "idem"}
FAST_FLAGS = {"--json": "json", "--firm": "firm", "--wait-durable": "wait_durable"}
FAST_COMMANDS = ("kill", "resume", "cancel-all")
# kill's options for the kill-to-flat flow: not parsed here (the flow loads numpy and waits on the drop copy
# anyway), so an argv with one of them goes to typer.
TYPER_ONLY_KILL = frozenset({"--flatten", "--cancel-deadline", "--flat-deadline"})


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
        scope = scope_or_usage(opts, bool(v.get("firm")), v.get("account"), v.get("symbol"), v.get("venue"))
        wait = bool(v.get("wait_durable"))
        if command == "cancel-all":
            do_cancel_all(opts, scope, v["reason"], v.get("idem"), wait)
        else:
            level = kill_level(opts, v.get("level", "HALTED")) if command == "kill" else "ACTIVE"
            do_set_level(opts, scope, level, v["reason"], v.get("idem"), wait)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
