"""`opsctl`: the on-call CLI for the flows. The typer app and its registrations, nothing else.

One module per command group beside this file: `runs` (run, rerun, status, list, deploy, serve, worker,
server), `demo` (demo, twin), `recon`, `cat`, `archive`. A group exposes `app: typer.Typer` (mounted as
`opsctl <group>`) or `register(root)` (top-level commands). Command modules import Prefect, pandas and GX
lazily, inside the commands: `opsctl --help` has to start in well under a second.
"""

from __future__ import annotations

import typer

from flows.opsctl import archive, cat, demo, recon, runs

app = typer.Typer(
    name="opsctl",
    help="colo-ops on-call CLI: run and inspect the day's flows, the twins and the demo.",
    no_args_is_help=True,
    add_completion=False,
)

runs.register(app)
demo.register(app)
app.add_typer(archive.app, name="archive")
app.add_typer(cat.app, name="cat")
app.add_typer(recon.app, name="recon")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
