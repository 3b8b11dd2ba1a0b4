"""`opsctl cat …`: run the CAT flows' logic for a date, validate a folder, show the day's CAT report."""

from __future__ import annotations

import json

import typer

from flows.opsctl.common import ExitCode, business_date, echo_json, fail

app = typer.Typer(help="FINRA CAT order events: seal, validate, report.", no_args_is_help=True)


@app.command("validate")
def validate(date: str = typer.Option(..., help="business date YYYY-MM-DD"),
             strict: bool = typer.Option(False, help="also run the jsonschema library on every record"),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-check every sealed record of the date (schema + cross-record rules); exit 1 on any finding,
    3 when the date has no sealed CAT files."""
    import bz2
    import time

    import orjson

    from core_bridge.settings import load_settings
    from reports.cat.fastcheck import check_line
    from reports.cat.package import sealed_submissions
    from reports.cat.rules import cross_check
    from reports.cat.schema import parse_record, schema_errors

    day = business_date(date)
    settings = load_settings()
    cat_dir = settings.reports_dir(day) / "cat"
    subs = sealed_submissions(cat_dir) if cat_dir.is_dir() else []
    if not subs:
        fail(ExitCode.UNAVAILABLE, "no_files", f"no sealed CAT files for {day} in {cat_dir}")
    recs, problems = [], []
    for sub in subs:
        if sub.kind != "NEW":
            continue
        for f in sub.files:
            for n, line in enumerate(bz2.decompress((cat_dir / f.name).read_bytes()).split(b"\n"), 1):
                if not line:
                    continue
                errs = check_line(line) + (schema_errors(parse_record(line)) if strict else [])
                problems += [f"{f.name}:{n} {fld} {msg}" for fld, msg in errs]
                recs.append(orjson.loads(line))
    problems += [str(x) for x in cross_check(recs, str(settings.get("cat.imid", "CLOP")), time.time_ns())]
    if as_json:
        echo_json({"date": day, "ok": not problems, "records": len(recs), "findings": problems})
    else:
        for p in problems:
            typer.echo(p)
        typer.echo(f"{len(recs)} records, {len(problems)} finding(s)")
    raise typer.Exit(1 if problems else 0)


@app.command("report")
def report(date: str = typer.Option(..., help="business date YYYY-MM-DD"),
           as_json: bool = typer.Option(False, "--json", help="print the JSON report")) -> None:
    """Print the day's CAT report (counts, errors by code, repairs outstanding)."""
    from core_bridge.settings import load_settings

    day = business_date(date)
    d = load_settings().reports_dir(day)
    path = d / ("cat_report.json" if as_json else "cat_report.md")
    if not path.exists():
        fail(ExitCode.UNAVAILABLE, "no_report", f"no CAT report for {day} ({path}): run `opsctl run cat --date {day}`")
    text = path.read_text()
    typer.echo(json.dumps(json.loads(text), indent=2) if as_json else text)
