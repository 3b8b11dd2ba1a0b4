"""`opsctl demo` (the main job) and `opsctl twin up|down` (the colo side alone)."""

from __future__ import annotations

import json
from typing import Any

import typer

from core_bridge.settings import load_settings

twin_app = typer.Typer(help="Start or stop the twin core and the drop-copy capture locally.", no_args_is_help=True)


def cmd_demo(
    date: str | None = typer.Option(None, "--date", help="Business date YYYY-MM-DD (default: last closed session)."),
    orders: int = typer.Option(2000, "--orders", min=10, help="Orders in the simulated trading session."),
    seed: int = typer.Option(20261120, "--seed", help="Seed of the order flow (same seed, same day)."),
    no_ha: bool = typer.Option(False, "--no-ha", help="Run a single core and skip the HA drill."),
    down: bool = typer.Option(False, "--down", help="Stop everything a previous demo left running, then exit."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run a whole simulated trading day end to end through Prefect and print where every report is.

    Starts a local Prefect server, the twin core (primary and standby), the capture and the clearing SFTP twin;
    runs sod-load, regsho-closeout, locates, bp-refresh, preopen-check, a trading session, eod-capture,
    clock-report, regsho-report, recon,
    cat, retention, an HA drill and the daily ops report; leaves the Prefect UI up.
    `opsctl demo --down` stops everything. Run again for the same date, it first moves the earlier run
    to COLO_OPS_HOME/previous/<UTC stamp>/ (nothing is deleted).
    """
    from flows.orchestration.demo_services import stop_all

    if down:
        stopped = stop_all(load_settings())
        if as_json:
            typer.echo(json.dumps({"stopped": stopped}))
        else:
            typer.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows.dates import parse_date
    from flows.errors import DemoHomeError
    from flows.opsctl.common import ExitCode, Fail, business_date
    from flows.orchestration.demo_day import Step, planned_steps, run_demo

    day = parse_date(business_date(date)) if date else None
    console = Console(stderr=as_json)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        overall = progress.add_task("trading day", total=planned_steps(not no_ha))
        tasks: dict[str, Any] = {}
        orders_task = progress.add_task("orders", total=orders, visible=False)

        def on_step(s: Step) -> None:
            if s.name not in tasks:
                tasks[s.name] = progress.add_task(s.name, total=1)
            if s.state != "running":
                progress.update(tasks[s.name], completed=1, description=f"{s.name} [{s.state}] {s.seconds:.1f}s")
                done = sum(1 for t in tasks.values() if progress.tasks[t].completed)
                progress.update(overall, completed=done, total=max(done, progress.tasks[overall].total or 0))

        def on_orders(n: int) -> None:
            progress.update(orders_task, completed=n, visible=True)

        try:
            result = run_demo(day, orders, seed, with_ha=not no_ha, on_step=on_step, on_orders=on_orders)
        except DemoHomeError as exc:
            raise Fail(ExitCode.CONFIG, "demo_not_started", str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"date": result.date, "ok": result.ok, "prefect_ui": result.prefect_ui,
                               "reports_dir": result.reports_dir, "trouble": result.trouble,
                               "steps": [s.__dict__ for s in result.steps]}, indent=2, default=str))
    else:
        _print_summary(console, result)
    raise typer.Exit(0 if result.ok else 1)


def _print_summary(console: Any, result: Any) -> None:
    """A table that fits the terminal (details, no paths), then every report's full path as a list."""
    from rich.table import Table

    table = Table(title=f"colo-ops demo — trading day {result.date}")
    for col in ("step", "state", "seconds", "detail"):
        table.add_column(col, overflow="fold")
    for s in result.steps:
        color = "green" if s.state == "Completed" else "yellow" if s.as_expected else "red"
        note = " (expected: seeded)" if s.expect != "Completed" and s.as_expected else ""
        table.add_row(s.name, f"[{color}]{s.state}{note}[/{color}]", f"{s.seconds:.1f}", s.detail)
    console.print(table)
    reports = list(dict.fromkeys(p for s in result.steps for p in s.reports))
    if reports:
        console.print("Reports:")
        for p in reports:
            console.print(f"  {p}", soft_wrap=True)
    t = result.trouble
    if t:
        console.print("Seeded trouble (on purpose, to show the failure paths):")
        if t.get("rejected_file"):
            f = t["rejected_file"]
            console.print(f"  rejected clearing file {f['file']} (line {f['line']}, field {f['field']}): quarantined, "
                          "re-delivered, loaded", soft_wrap=True)
        if t.get("misbooked"):
            m = t["misbooked"]
            console.print(f"  clearer booked exec {m['exec_id']} as {m['booked_qty']} (traded {m['traded_qty']}): "
                          "a recon break", soft_wrap=True)
        if t.get("cat_rejected"):
            console.print(f"  CAT rejected {t['cat_rejected']}: repaired by cat-feedback", soft_wrap=True)
        if t.get("page"):
            console.print(f"  failure page for sod-load received by the webhook sink at {t['page']['received']}",
                          soft_wrap=True)
    console.print(f"Reports folder: {result.reports_dir}", soft_wrap=True)
    console.print(f"Prefect UI (deployments, runs, artifacts): {result.prefect_ui}", soft_wrap=True)
    console.print("Follow the runbook now (opsctl status/rerun work on this install); stop everything with: "
                  "opsctl demo --down", soft_wrap=True)


@twin_app.command("up")
def twin_up(
    standby: bool = typer.Option(True, "--standby/--no-standby", help="Also start the standby node."),
    capture: bool = typer.Option(True, "--capture/--no-capture", help="Also start the drop-copy capture."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Start the twin core (keys and endpoint files under COLO_OPS_HOME) and the capture."""
    from flows.orchestration.demo_day import _ha_available
    from flows.orchestration.demo_services import record, start_capture, start_core

    settings = load_settings()
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    core = start_core(settings, None, standby and _ha_available())
    out: dict[str, Any] = {"core": core}
    record(settings, core=core)
    if capture:
        out["capture_pid"] = start_capture(settings)
        record(settings, capture_pid=out["capture_pid"])
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for node, info in core.items():
            typer.echo(f"twin {node}: pid {info['pid']} control {info['endpoints']['control']}")
        if capture:
            typer.echo(f"capture: pid {out['capture_pid']} journal {settings.journal_dir}")
        typer.echo("try: corectl status")


@twin_app.command("down")
def twin_down(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Stop the twin nodes and the capture started under COLO_OPS_HOME (the Prefect server is left up)."""
    from flows.orchestration.demo_services import stop_all

    stopped = stop_all(load_settings(), prefect=False)
    if as_json:
        typer.echo(json.dumps({"stopped": stopped}))
    else:
        typer.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


def register(root: typer.Typer) -> None:
    root.command("demo")(cmd_demo)
    root.add_typer(twin_app, name="twin")
