"""Where each locate came from, for the Rule 203(b)(1) record: the clearer's list file behind it (name, list
date, creation time, sha256), and whether an ETB list is fresh enough to be a source at all.

Freshness (`ETB_MAX_AGE`): the adopting release is commonly cited as wanting ETB lists under 24 hours old
(../shared/domain/clearing_and_regulation.md §3.1, *wording unverified*: change the constant, not the code).
The age is taken at the close of the session the list is used for (the last moment a locate from it can back
a short sale), from the creation time in the list's header record, so the check is the same on every re-run.
A list older than that is not a source: its names get no ETB locate (fail closed) and the run says why.

Pre-borrow and specific locates name the lender: the clearer, and as confirmation the row of its pre-borrow
list (the list format carries no per-borrow confirmation id; `confirmation_id` is `<file>#<symbol>`).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from flows.calendars import session_close
from flows.clearing.ingest import IngestResult
from flows.sources.envelope import parse_envelope
from flows.sources.sftp import FileSource
from flows.store.db import session_scope
from flows.store.models import FileStatus, IngestedFile

ETB_MAX_AGE = dt.timedelta(hours=24)  # unverified wording, see the module docstring
FILE_TYPES = {"etb": "ETB", "preborrow": "PREBORROW"}


@dataclass(frozen=True)
class ListSource:
    kind: str  # etb | preborrow
    file: str
    sha256: str
    list_date: str
    created_utc: str
    clearer: str

    def describe(self) -> str:
        what = "ETB list" if self.kind == "etb" else "pre-borrow list"
        return f"{what} {self.file} of {self.clearer} dated {self.list_date} sha256 {self.sha256}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _header(path: Path, kind: str, day: dt.date) -> tuple[str, dt.datetime]:
    lines = path.read_text(encoding="ascii").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    env = parse_envelope(lines, path, FILE_TYPES[kind], day)
    return env.clearer, env.created


def list_source(source: FileSource, home: Path, day: dt.date, res: IngestResult, kind: str) -> ListSource:
    """The list file's identity from its ingest result and its header (read from the inbox copy, or fetched
    again when a re-run found it loaded already: same sha256)."""
    local = home / "inbox" / day.isoformat() / res.name
    if local.is_file():
        clearer, created = _header(local, kind, day)
    else:
        scratch = home / "run" / f"list-reread-{kind}-{day:%Y%m%d}"
        try:
            fetched = source.fetch(f"outgoing/{day:%Y%m%d}/{res.name}", scratch)
            clearer, created = _header(fetched.local, kind, day)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return ListSource(kind, res.name, res.sha256, day.isoformat(), created.strftime("%Y-%m-%dT%H:%M:%SZ"), clearer)


def stale_reason(src: ListSource, day: dt.date) -> str | None:
    """Why the ETB list is not a source for `day`'s session (None: it is)."""
    created = dt.datetime.strptime(src.created_utc, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    age = session_close(day) - created
    if age > ETB_MAX_AGE:
        hours, limit = age.total_seconds() / 3600, ETB_MAX_AGE.total_seconds() / 3600
        return (f"ETB list {src.file} (sha256 {src.sha256[:12]}) was created {src.created_utc}: {hours:.1f} h old "
                f"at the {day} close, over the {limit:.0f} h an ETB list may be relied on: not a locate source")
    return None


def loaded_sources(engine: Engine, day: dt.date) -> dict[str, tuple[str, str]]:
    """kind -> (file name, sha256) of the list files loaded for `day` (the last loaded one per kind)."""
    with session_scope(engine) as s:
        rows = s.execute(select(IngestedFile.source, IngestedFile.name, IngestedFile.sha256)
                         .where(IngestedFile.business_date == day, IngestedFile.status == FileStatus.LOADED.value,
                                IngestedFile.source.in_([f"clearing.{k}" for k in FILE_TYPES]))
                         .order_by(IngestedFile.id)).all()
    return {src.removeprefix("clearing."): (name, sha) for src, name, sha in rows}


def _utc_ns(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{ts_ns % 1_000_000_000:09d}Z"


def record_lines(logs: Any, usage: Any, loaded: dict[str, tuple[str, str]], day: dt.date) -> list[Any]:
    """The locate log rows as Rule 203(b)(1) records (reports.regsho.LocateLine): time obtained, account,
    source file or lender and confirmation, grant, and each consuming short sale (time, shares, order, account).
    Locates are pooled firm-wide at the core, so every short fill of the symbol draws on the day's one locate."""
    from flows.sources.envelope import EXPECTED_CLEARER
    from reports.regsho import Consumption, LocateLine

    out = []
    for r in logs:
        kind = {"etb": "etb", "preborrow": "preborrow"}.get(r.method)
        file, sha = loaded.get(kind, ("", "")) if kind else ("", "")
        u = usage.get(r.symbol)
        consumed = tuple(Consumption(_utc_ns(f.ts_ns), f.qty, f.order_id, f.account) for f in (u.fills if u else ()))
        out.append(LocateLine(
            r.locate_id, r.symbol, r.cusip, r.method, r.source, r.granted, r.used, tuple(r.order_ids or ()),
            obtained_utc=r.ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), account=r.account,
            source_file=file, source_date=day.isoformat() if file else "", source_sha256=sha,
            lender=EXPECTED_CLEARER if kind == "preborrow" else "",
            confirmation_id=f"{file}#{r.symbol}" if kind == "preborrow" and file else "", consumed=consumed))
    return out


def report_sources(loaded: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
    names = {"etb": "ETB list", "preborrow": "pre-borrow list"}
    return [{"name": names[k], "path": loaded[k][0], "sha256": loaded[k][1]} for k in ("etb", "preborrow")
            if k in loaded]
