"""`opsctl run|rerun|status|list|deploy|serve|worker` and `opsctl server up|down|status`.

Prefect is imported only inside the commands that talk to it, so `opsctl --help` and `opsctl list` are fast.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import typer

from core_bridge.settings import load_settings
from flows.opsctl.common import ExitCode, Fail, business_date, fail
from flows.opsctl.common import echo_json as _echo_json
from flows.orchestration.deployments import Deployment, load_plan

server_app = typer.Typer(help="The local Prefect server the demo and opsctl share.", no_args_is_help=True)

# Final states that mean the day's flow did not do its job (the latest run of a flow in one: exit 1).
BAD_STATES = frozenset({"Failed", "Crashed", "TimedOut", "Cancelled"})


def _connect() -> str:
    """Point this process at a Prefect server: PREFECT_API_URL if set, else the local one if running."""
    from flows.orchestration.local_server import current, healthy, use_server

    url = os.environ.get("PREFECT_API_URL")
    if url:
        if not healthy(url, timeout=3.0):
            fail(ExitCode.UNAVAILABLE, "no_server", f"no Prefect server answers at PREFECT_API_URL={url}")
        return url
    settings = load_settings()
    info = current(settings)
    if info is None:
        fail(ExitCode.UNAVAILABLE, "no_server",
             f"no Prefect server for data home {settings.home}: run `opsctl server up` (or `make demo`), "
             "or set PREFECT_API_URL")
    use_server(info, settings)
    return info.url


def _deployment(flow: str) -> Deployment:
    plan = load_plan()
    try:
        return plan.get(flow)
    except KeyError:
        names = ", ".join(d.name for d in plan.deployments)
        fail(ExitCode.USAGE, "usage", f"no deployment named {flow!r} in infra/prefect.yaml; one of: {names}")


def cmd_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the day's deployments with their schedules (from infra/prefect.yaml)."""
    plan = load_plan()
    rows = [
        {
            "name": d.name,
            "entrypoint": d.entrypoint,
            "schedules": [f"{s.cron} ({s.timezone})" for s in d.schedules],
            "tags": list(d.tags),
        }
        for d in plan.deployments
    ]
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']:<14} {'; '.join(r['schedules']):<60} {r['entrypoint']}")


def _run(flow: str, date: str | None, wait: bool, local: bool, as_json: bool) -> None:
    dep = _deployment(flow)
    day = business_date(date)
    if local:
        if not os.environ.get("PREFECT_API_URL"):
            from flows.orchestration.local_server import current, use_server

            settings = load_settings()
            info = current(settings)
            if info is not None:
                use_server(info, settings)
        fn = dep.load_flow()
        state = fn(date=day, return_state=True)
        result = {"flow": flow, "date": day, "state": state.name, "message": state.message}
        ok = state.is_completed()
    else:
        url = _connect()
        from prefect.deployments import run_deployment
        from prefect.exceptions import ObjectNotFound

        try:
            fr: Any = run_deployment(name=dep.full_name, parameters={"date": day}, timeout=None if wait else 0)
        except ObjectNotFound:
            fail(ExitCode.UNAVAILABLE, "no_deployment",
                 f"deployment {dep.full_name} is not on the Prefect server at {url}: run `opsctl deploy`")
        state_name = fr.state.name if fr.state else "unknown"
        result = {"flow": flow, "date": day, "flow_run_id": str(fr.id), "flow_run": fr.name, "state": state_name}
        ok = (not wait) or bool(fr.state and fr.state.is_completed())
    if as_json:
        _echo_json(result)
    else:
        typer.echo(" ".join(f"{k}={v}" for k, v in result.items()))
    raise typer.Exit(0 if ok else 1)


def cmd_run(
    flow: str = typer.Argument(..., help="Deployment name, e.g. sod-load (see `opsctl list`)."),
    date: str | None = typer.Option(None, "--date", help="Business date YYYY-MM-DD (default: today in New York)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the run to finish; exit 1 unless it Completed."),
    local: bool = typer.Option(False, "--local", help="Run in this process instead of through the deployment."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Trigger one flow for a date (through its deployment, or in-process with --local)."""
    _run(flow, date, wait, local, as_json)


def cmd_rerun(
    flow: str = typer.Argument(..., help="Deployment name."),
    date: str = typer.Option(..., "--date", help="Business date YYYY-MM-DD to run again."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the run (default: wait)."),
    local: bool = typer.Option(False, "--local", help="Run in this process."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run a flow again for a date. Every flow is idempotent per date: a rerun changes nothing that was right."""
    _run(flow, date, wait, local, as_json)


def cmd_status(
    date: str | None = typer.Option(None, "--date", help="Business date YYYY-MM-DD (default: today in New York)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The day's flow runs (newest first), their states and artifacts.

    Exits 1 when the latest run of some flow for the date ended Failed, Crashed, TimedOut or Cancelled (an
    earlier failure that a later run repaired does not count)."""
    day = business_date(date)
    _connect()
    from flows.orchestration.prefect_runs import day_runs

    rows = asyncio.run(day_runs(day))
    latest: dict[str, str] = {}
    for r in reversed(rows):  # oldest first: the newest run of a flow wins
        latest[str(r["flow"])] = str(r["state"])
    failed = sorted(f for f, st in latest.items() if st in BAD_STATES)
    if as_json:
        _echo_json({"date": day, "ok": not failed, "failed": failed, "runs": rows})
    else:
        if not rows:
            typer.echo(f"no flow runs for {day}")
        for r in rows:
            typer.echo(f"{r['flow']:<14} {r['state'] or '?':<12} {r['flow_run']:<28} {', '.join(r['artifacts'])}")
        if failed:
            typer.echo(f"failed (latest run): {', '.join(failed)}", err=True)
    raise typer.Exit(ExitCode.FAILED if failed else ExitCode.OK)


def cmd_deploy(
    prune: bool = typer.Option(False, "--prune", help="Also delete deployments of the pool not in the file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Apply infra/prefect.yaml to the Prefect server (PREFECT_API_URL or the local one).

    Deployments are updated in place (upsert): their runs, scheduled and past, are kept."""
    _connect()
    from flows.orchestration.apply import apply_plan

    res = asyncio.run(apply_plan(prune=prune))
    payload = {
        "deployments": res.deployments,
        "concurrency_limits": res.concurrency_limits,
        "automations": res.automations,
        "extra": res.extra,
        "pruned": res.pruned,
        "skipped": res.skipped,
    }
    if as_json:
        _echo_json(payload)
    else:
        for k, v in payload.items():
            typer.echo(f"{k}: {v}")


def cmd_serve() -> None:
    """Run every deployment's schedule from this process (one-box installs and the demo). Ctrl-C stops."""
    _connect()
    from flows.orchestration.apply import serve_all

    serve_all()


def cmd_worker(pool: str = typer.Option("ops", "--pool", help="Work pool to pull from.")) -> None:
    """Start a Prefect process worker for the `ops` pool (one per host to scale out)."""
    url = _connect()
    os.execvpe(  # noqa: S606 - fixed argv: hand the terminal to the Prefect worker
        sys.executable,
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
        os.environ | {"PREFECT_API_URL": url},
    )


@server_app.command("up")
def server_up(
    port: int = typer.Option(4200, "--port", min=1, max=65535,
                             help="Port to listen on; when it is busy, a free one (the UI follows)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Start (or reuse) the local Prefect server of this data home."""
    from flows.orchestration.local_server import ensure_server

    try:
        info = ensure_server(port=port)
    except (RuntimeError, TimeoutError) as exc:
        raise Fail(ExitCode.UNAVAILABLE, "server_start", str(exc)) from None
    if as_json:
        _echo_json({"api_url": info.url, "ui_url": info.ui_url, "pid": info.pid})
    else:
        typer.echo(f"Prefect UI: {info.ui_url}  API: {info.url}")


@server_app.command("down")
def server_down(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Stop the local Prefect server started by `opsctl server up` or the demo."""
    from flows.orchestration.local_server import stop_server

    stopped = stop_server()
    if as_json:
        _echo_json({"stopped": stopped})
    else:
        typer.echo("stopped" if stopped else "not running")


@server_app.command("status")
def server_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Is the local Prefect server of this data home up? Exit 0 if so, 3 if not."""
    from flows.orchestration.local_server import current

    settings = load_settings()
    info = current(settings)
    payload = {
        "running": info is not None,
        "home": str(settings.home),
        "api_url": info.url if info else None,
        "ui_url": info.ui_url if info else None,
    }
    if as_json:
        _echo_json(payload)
    else:
        typer.echo(f"running at {info.ui_url}" if info else f"not running (data home {settings.home})")
    raise typer.Exit(ExitCode.OK if info else ExitCode.UNAVAILABLE)


def register(root: typer.Typer) -> None:
    root.command("list")(cmd_list)
    root.command("run")(cmd_run)
    root.command("rerun")(cmd_rerun)
    root.command("status")(cmd_status)
    root.command("deploy")(cmd_deploy)
    root.command("serve")(cmd_serve)
    root.command("worker")(cmd_worker)
    root.add_typer(server_app, name="server")
