"""`opsctl`: the on-call CLI for the flows. The typer app and its registrations, nothing else.

One module per command group beside this file: `runs` (run, rerun, status, list, deploy, serve, worker,
server), `demo` (demo, twin), `fixdrop` (fix-dropcopy), `recon`, `cat`, `archive`, `compliance`. A group
exposes `app: typer.Typer` (mounted as `opsctl <group>`) or `register(root)` (top-level commands). Command
modules import Prefect, pandas and GX lazily, inside the commands: `opsctl --help` has to start in well under a
second.
"""

from __future__ import annotations

import sys

import typer

# typer vendors its click (typer._click); its usage errors are these classes, not the click package's.
from typer._click import exceptions as cli_errors

from flows.errors import OpsError
from flows.opsctl import archive, cat, compliance, demo, fixdrop, recon, runs
from flows.opsctl.common import EXIT_HELP, ExitCode, Fail, report

app = typer.Typer(
    name="opsctl",
    help="colo-ops on-call CLI: run and inspect the day's flows, the twins and the demo.\n\n" + EXIT_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

runs.register(app)
demo.register(app)
fixdrop.register(app)
app.add_typer(archive.app, name="archive")
app.add_typer(cat.app, name="cat")
app.add_typer(compliance.app, name="compliance")
app.add_typer(recon.app, name="recon")


def run_app(argv: list[str]) -> int:
    """Run one command line; every error becomes one line (or a JSON object with --json) and an exit code."""
    as_json = "--json" in argv
    try:
        rv = app(args=argv, prog_name="opsctl", standalone_mode=False)
    except cli_errors.NoArgsIsHelpError as exc:
        exc.show()  # a bare group: its help, as click prints it
        return int(exc.exit_code)
    except cli_errors.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "opsctl"
        return report(Fail(ExitCode.USAGE, "usage", f"{exc.format_message()} (see `{where} --help`)"), as_json)
    except typer.Abort:
        sys.stderr.write("opsctl: aborted\n")
        return 130
    except Fail as exc:
        return report(exc, as_json)
    except OpsError as exc:
        return report(Fail(ExitCode.FAILED, "error", str(exc)), as_json)
    return rv if isinstance(rv, int) else 0


def main() -> None:
    sys.exit(run_app(sys.argv[1:]))


if __name__ == "__main__":
    main()
