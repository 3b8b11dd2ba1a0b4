"""`corectl`'s entry point: the fast path for a plain kill, else the typer app with every command.

Why the typer app is built in a function rather than at import: the console script imports this module on
every `corectl kill`, and typer (~25 ms, plus pydantic) must not load on that path. `main` first offers the
argv to `core_bridge.cli.fastpath`; only what it declines builds the app. The command modules register
themselves (`register(app)`) in the order --help lists them; the journal commands are imported only when
the argv may name them (or asks for help), which keeps `corectl kill` and `corectl status` small.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from core_bridge.cli.common import EXIT_HELP
from core_bridge.cli.fastpath import parse_fast, run_fast

if TYPE_CHECKING:
    import typer

_JOURNAL_WORDS = {"journal", "capture", "--help", "-h"}


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The typer app. With `argv`, the journal commands are left out unless it may name them (None: all)."""
    import typer

    from core_bridge.cli import audit, conformance, control, exporter, ha, keys, params, riskwatch, status, watch

    app = typer.Typer(
        name="corectl",
        help="Control and watch the trading core: status, kill switch, limits, audit.\n\n" + EXIT_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(params.root)
    # typer lists commands in registration order, then the groups in theirs: keep --help's order.
    for module in (status, control, watch, riskwatch, exporter, audit, keys, ha, conformance):
        module.register(app)
    if not argv or _JOURNAL_WORDS.intersection(argv):
        from core_bridge.cli import journal

        journal.register(app)
    return app


def main() -> None:
    argv = sys.argv[1:]
    fast = parse_fast(argv)
    if fast is not None:
        sys.exit(run_fast(*fast))
    build_app(argv)()
