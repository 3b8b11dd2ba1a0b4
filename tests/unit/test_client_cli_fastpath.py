"""The on-call fast path of corectl (kill/resume/cancel-all without typer) stays in step with the typer CLI."""

from __future__ import annotations

import pytest
import typer.main

from core_bridge.cli import fastpath
from core_bridge.cli.app import build_app


def _options(cmd: object) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o != "--help"}  # type: ignore[attr-defined]


def test_fast_parser_when_compared_with_typer_then_same_options_everywhere() -> None:
    group = typer.main.get_command(build_app())
    assert _options(group) == set(fastpath.FAST_GLOBAL_VALUES) | {"--json"}
    for name in fastpath.FAST_COMMANDS:
        expected = set(fastpath.FAST_COMMAND_VALUES) | set(fastpath.FAST_FLAGS)
        if name != "kill":
            expected -= {"--level", "-l"}
        else:
            expected |= fastpath.TYPER_ONLY_KILL
        assert _options(group.commands[name]) == expected, name  # type: ignore[attr-defined]


def test_parse_fast_when_plain_kill_then_values() -> None:
    got = fastpath.parse_fast(["-e", "tcp://h:1", "--json", "kill", "--account=PROP01", "-l", "CANCEL_ONLY", "-r",
                               "why"])
    assert got == ("kill", {"endpoint": "tcp://h:1", "json": True, "account": "PROP01", "level": "CANCEL_ONLY",
                            "reason": "why", "timeout": 1500, "retries": 2})


@pytest.mark.parametrize(
    "argv",
    [
        ["kill", "--firm"],  # no reason: typer prints the missing-option error
        ["kill", "--firm", "--reason", "x", "--help"],
        ["kill", "--firm", "--reason", "x", "--bogus"],
        ["kill", "--account", "PROP01", "--reason", "x", "--flatten"],  # kill to flat: typer runs it
        ["resume", "--firm", "--level", "HALTED", "--reason", "x"],
        ["--timeout", "abc", "kill", "--firm", "--reason", "x"],
        ["--firm", "kill", "--reason", "x"],
        ["kill", "--firm", "--reason"],
        ["kill", "--reason", "a", "--reason", "b", "--firm"],
        ["status", "--json"],
        [],
    ],
)
def test_parse_fast_when_anything_unusual_then_left_to_typer(argv: list[str]) -> None:
    assert fastpath.parse_fast(argv) is None
