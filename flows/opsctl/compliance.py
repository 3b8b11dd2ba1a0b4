"""`opsctl compliance review|verify-controls|controls-report`: SEC 15c3-5 evidence on demand.

- `review --from D1 --to D2`: the annual review pack (15c3-5(e)) from the daily evidence under reports/, written
  to reports/<D2>/compliance/ (archived with the day's records under the retention policy).
- `verify-controls [--date D]`: drive a scratch twin core with orders at each control's boundary; evidence to
  reports/<D>/compliance/. Exit 1 when a control missed its boundary.
- `controls-report --date D [--audit-date A]`: the daily controls report, as the flow writes it.

Heavy imports stay inside the commands (`opsctl --help` must stay fast).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from flows.opsctl.common import ExitCode, business_date, echo_json, fail

app = typer.Typer(help="SEC 15c3-5 evidence: daily controls report, control verification, annual review pack.",
                  no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


def _day(value: str | None, option: str) -> dt.date:
    return dt.date.fromisoformat(business_date(value, option))


@app.command("review")
def review(
    from_: str = typer.Option(..., "--from", help="First day of the period, YYYY-MM-DD."),
    to: str = typer.Option(..., "--to", help="Last day of the period, YYYY-MM-DD (inclusive)."),
    verify: bool = typer.Option(False, "--verify", help="Run the control verification first (dated --to)."),
    as_json: bool = JSON,
) -> None:
    """The annual review pack over [--from, --to]: control inventory, limit history, reject statistics,
    incidents, control test evidence and a certification page, as one print-friendly HTML plus JSON."""
    from core_bridge.settings import load_settings
    from flows.controls.review import build_review, period
    from flows.errors import ComplianceError
    from reports.compliance import write_review_pack

    d1, d2 = _day(from_, "--from"), _day(to, "--to")
    try:
        period(d1, d2)
    except ComplianceError as exc:
        fail(ExitCode.USAGE, "usage", str(exc))
    settings = load_settings()
    if verify:
        _verify(settings, d2)
    try:
        pack = build_review(settings.home / "reports", settings.home, d1, d2)
    except ComplianceError as exc:
        fail(ExitCode.FAILED, "compliance", str(exc))
    paths = write_review_pack(pack, settings.reports_dir(d2.isoformat()) / "compliance")
    doc = {"ok": True, "from": pack["from"], "to": pack["to"], "files": [str(p) for p in paths],
           "sessions": pack["sessions"], "gaps": pack["gaps"], "verification": pack["verification"]["runs"]}
    if as_json:
        echo_json(doc)
    else:
        print(f"review pack {d1}..{d2}: {paths[0]}" + (f" (sessions without a controls report: "
                                                          f"{', '.join(pack['gaps'])})" if pack["gaps"] else ""))


def _verify(settings: Any, day: dt.date) -> tuple[dict[str, Any], list[str]]:
    from flows.controls.verify_run import verification_doc, verify_on_scratch_twin, write_verification

    run = verify_on_scratch_twin(settings.run_dir if settings.run_dir.is_dir() else None)
    doc = verification_doc(day, run)
    return doc, [str(p) for p in write_verification(doc, settings.reports_dir(day.isoformat()))]


@app.command("verify-controls")
def verify_controls(
    date: str | None = typer.Option(None, "--date", help="Date the evidence is filed under (default: today, NY)."),
    as_json: bool = JSON,
) -> None:
    """Drive a scratch twin core with orders at each 15c3-5 control's boundary (just inside passes, just
    outside is rejected with the control's reason code); writes the evidence; exit 1 if any step failed."""
    from core_bridge.settings import load_settings

    day = _day(date, "--date")
    doc, files = _verify(load_settings(), day)
    out = {"ok": doc["passed"], "date": doc["date"], "files": files, "by_control": doc["by_control"],
           "errors": doc["errors"]}
    if as_json:
        echo_json(out)
    else:
        for name, c in doc["by_control"].items():
            print(f"{name:16} {c['passed']}/{c['steps']}")
        print(("PASS" if doc["passed"] else "FAIL") + f": {files[0]}")
    if not doc["passed"]:
        fail(ExitCode.FAILED, "verification_failed", "a control missed its boundary: " + ", ".join(
            f"{r['control']} {r['label']} expected {r['expect']} got {r['got']}"
            for r in doc["results"] if not r["passed"]) + "".join(f"; {e}" for e in doc["errors"]))


@app.command("controls-report")
def controls_report(
    date: str | None = typer.Option(None, "--date", help="Business date YYYY-MM-DD (default: today, NY)."),
    audit_date: str | None = typer.Option(None, "--audit-date",
                                          help="Wall-clock date of the control commands, when a twin simulated "
                                               "the session on another date (default: --date)."),
    as_json: bool = JSON,
) -> None:
    """The daily 15c3-5 controls report for one date (what the `controls-report` flow writes)."""
    from core_bridge.settings import load_settings
    from flows.controls.run import run_controls_report

    day = _day(date, "--date")
    audit_day = _day(audit_date, "--audit-date") if audit_date else None
    doc, paths = run_controls_report(load_settings(), day, audit_day)
    out = {"ok": doc["summary"]["ok"], "date": doc["date"], "files": [str(p) for p in paths],
           "summary": doc["summary"], "checks": doc["checks"]}
    if as_json:
        echo_json(out)
    else:
        print(f"controls report {day}: {paths[0]} ({'all checks pass' if doc['summary']['ok'] else 'checks FAIL'})")
