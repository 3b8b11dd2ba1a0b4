"""`opsctl archive find|get|verify|hold|release`: find and retrieve 17a-4 records with their audit trail.

Every command takes --json. `get` writes the record's bytes (checked against its SHA-256 on the way out) and
prints its audit trail: every manifest entry that concerns it (archive, hold, release, purge), with times in
UTC and New York. No Prefect import here: the archive is plain files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from core_bridge.settings import load_settings
from flows.dates import NY
from flows.errors import ArchiveError
from flows.opsctl.common import ExitCode, Fail

app = typer.Typer(help="The 17a-4 record archive: find, get (with audit trail), verify, legal holds.",
                  no_args_is_help=True)


def _archive() -> Any:
    from flows.archive import open_archive

    return open_archive(load_settings())


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _fail(msg: str, as_json: bool, code: int = 2) -> NoReturn:
    """One line (or JSON with --json, printed by the app's error guard) and exit 2, or `code`."""
    del as_json  # run_app sees --json on the command line
    raise Fail(ExitCode(code), "archive", msg)


def _when(ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)
    return f"{t:%Y-%m-%dT%H:%M:%SZ} ({t.astimezone(NY):%Y-%m-%d %H:%M:%S %Z})"


def _trail_line(e: dict[str, Any]) -> str:
    ev = e["event"]
    head = f"#{e['seq']:<6} {_when(int(e['ts_ns']))}  {ev:<8}"
    if ev == "archive":
        return (f"{head} {e['record_kind']} from {e['source']} (business date {e['business_date']}, "
                f"class {e['record_class']} {e.get('rule', '')}, retain until {e['retain_until']}) by {e['actor']}")
    if ev in ("hold", "release"):
        return f"{head} {e['hold_id']} by {e['actor']}: {e['reason']}"
    return f"{head} sha256 {e.get('sha256')} by {e['actor']}: {e.get('reason', '')}"


@app.command("find")
def cmd_find(
    kind: str | None = typer.Option(None, help="Record kind, e.g. cat_file, journal_segment."),
    record_class: str | None = typer.Option(None, "--class", help="Retention class name."),
    date: str | None = typer.Option(None, help="Business date YYYY-MM-DD."),
    source: str | None = typer.Option(None, help="Substring of the source path."),
    held: bool = typer.Option(False, "--held", help="Only objects on legal hold."),
    include_purged: bool = typer.Option(False, "--include-purged", help="Also list purged records."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List archived records matching every filter given."""
    rows = []
    for st in _archive().state().values():
        s = st.summary()
        kinds = {e["record_kind"] for e in st.entries}
        dates = {e["business_date"] for e in st.entries}
        if (kind and kind not in kinds) or (record_class and s["record_class"] != record_class):
            continue
        if (date and date not in dates) or (source and not any(source in x for x in s["sources"])):
            continue
        if (held and not st.on_hold) or (not include_purged and not st.live):
            continue
        rows.append(s)
    rows.sort(key=lambda r: (r["business_date"], r["sources"][0]))
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        flags = ("HOLD " if r["on_hold"] else "") + ("PURGED " if r["purged"] else "")
        typer.echo(f"{r['object_id'][:16]}  {r['business_date']}  {r['record_class']:<26} {r['retain_until']}  "
                   f"{flags}{r['sources'][0]}")
    typer.echo(f"{len(rows)} record(s)")


@app.command("get")
def cmd_get(
    ref: str = typer.Argument(..., help="Object id or a unique prefix (>= 8 hex digits)."),
    out: Path | None = typer.Option(None, "--out", help="Write the record here ('-' for stdout)."),
    copy: str = typer.Option("primary", help="Read from the primary or the duplicate copy."),
    as_json: bool = typer.Option(False, "--json", help="Print the record summary and audit trail as JSON."),
) -> None:
    """Show a record's audit trail (manifest entries, holds) and optionally download its bytes."""
    arc = _archive()
    try:
        states = arc.state()
        oid = arc.resolve(ref, states)
    except ArchiveError as exc:
        _fail(str(exc), as_json)
        return
    st = states[oid]
    trail = arc.audit_trail(oid)
    written = None
    if out is not None:
        if not st.live:
            _fail(f"object {oid} was purged on {_when(int(st.purged['ts_ns']))}", as_json)  # type: ignore[index]
        if copy not in ("primary", "duplicate"):
            _fail("--copy must be primary or duplicate", as_json)
        try:
            with arc.store.open(oid, copy) as fh:
                data = fh.read()
        except ArchiveError as exc:
            _fail(str(exc), as_json)
            return
        if hashlib.sha256(data).hexdigest() != oid:
            _fail(f"object {oid} in the {copy} copy does not verify; try --copy the other one", as_json, 1)
        if str(out) == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        out.write_bytes(data)
        written = str(out)
    if as_json:
        _echo_json({"object": st.summary(), "audit_trail": trail, "holds": list(st.holds.values()),
                    "written_to": written})
        return
    s = st.summary()
    typer.echo(f"object   {oid}\nsize     {s['size']:,} bytes\nclass    {s['record_class']}\n"
               f"retain   until {s['retain_until']}\nstatus   "
               + ("PURGED" if s["purged"] else "ON LEGAL HOLD" if s["on_hold"] else "retained"))
    for src in s["sources"]:
        typer.echo(f"source   {src}")
    typer.echo("audit trail:")
    for e in trail:
        typer.echo("  " + _trail_line(e))
    if written:
        typer.echo(f"written to {written} (sha256 verified)")


@app.command("verify")
def cmd_verify(
    sample: bool = typer.Option(False, "--sample", help="Re-hash only today's rotating sample, not everything."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Verify the manifest chain, the duplicate set and the objects; exit 1 when anything does not verify."""
    from flows.archive.archive import ny_date
    from flows.archive.verify import verify_archive

    arc = _archive()
    settings = load_settings()
    res = verify_archive(arc.store, full=not sample, day=ny_date(arc.clock()),
                         rotation=int(settings.get("archive.verify_rotation_days", 7)))
    if as_json:
        _echo_json(res.to_dict() | {"store": arc.store.describe()})
    else:
        typer.echo(f"{res.mode} verify: {res.manifest_entries} manifest entries, {res.objects_live} live objects, "
                   f"{res.objects_hashed} re-hashed ({res.bytes_hashed:,} bytes)")
        for f in res.findings:
            typer.echo(f"  {f}")
        typer.echo("OK" if res.ok else f"FAILED: {len(res.findings)} finding(s)")
    if not res.ok:
        raise typer.Exit(1)


@app.command("hold")
def cmd_hold(
    refs: list[str] = typer.Argument(..., help="Object ids (or unique prefixes) to put on legal hold."),
    by: str | None = typer.Option(None, "--by", help="Who places the hold (default: the operator)."),
    reason: str = typer.Option(..., "--reason", help="Why: matter, request or preservation notice."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Place a legal hold: the records are never purged until the hold is released."""
    try:
        entries = _archive().place_hold(refs, by or load_settings().operator, reason)
    except ArchiveError as exc:
        _fail(str(exc), as_json)
        return
    if as_json:
        _echo_json({"ok": True, "holds": entries})
        return
    for e in entries:
        typer.echo(f"hold {e['hold_id']} on {e['object_id']} (manifest #{e['seq']})")


@app.command("release")
def cmd_release(
    ref: str = typer.Argument(..., help="A hold id, or an object id/prefix to release all its holds."),
    by: str | None = typer.Option(None, "--by", help="Who releases (default: the operator)."),
    reason: str = typer.Option(..., "--reason", help="Why the hold ends."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Release a legal hold (the record becomes purgeable again once past its retain-until date)."""
    try:
        entries = _archive().release_hold(ref, by or load_settings().operator, reason)
    except ArchiveError as exc:
        _fail(str(exc), as_json)
        return
    if as_json:
        _echo_json({"ok": True, "released": entries})
        return
    for e in entries:
        typer.echo(f"released {e['hold_id']} on {e['object_id']} (manifest #{e['seq']})")
