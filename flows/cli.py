"""`opsctl`: the on-call CLI for the flows. Thin wiring only.

Sub-commands live in `flows/cli_<topic>.py` modules, each exposing `app: typer.Typer` (added as
`opsctl <topic>`) or `register(root: typer.Typer) -> None` (for top-level commands). They are discovered
here so topics never edit this file. They must import Prefect, pandas and GX lazily, inside commands:
`opsctl --help` has to start in well under a second.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import typer

app = typer.Typer(
    name="opsctl",
    help="colo-ops on-call CLI: run and inspect the day's flows, the twins and the demo.",
    no_args_is_help=True,
    add_completion=False,
)


def _discover() -> None:
    here = Path(__file__).parent
    for mod in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not mod.name.startswith("cli_"):
            continue
        module = importlib.import_module(f"flows.{mod.name}")
        if hasattr(module, "register"):
            module.register(app)
        if hasattr(module, "app"):
            app.add_typer(module.app, name=mod.name[len("cli_"):].replace("_", "-"))


_discover()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
