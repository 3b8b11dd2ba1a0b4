"""Fetch → check → validate → load one external file, whole or not at all.

The steps every clearing and exchange file goes through (design principle 5):
1. fetch into COLO_OPS_HOME/inbox/<date>/ (temp name + atomic rename, sha256);
2. if `ingested_files` already holds this (sha256, business date): loaded → skip (not loaded twice);
   rejected → reject again without re-validating;
3. `check(path)`: structural checks then the content suite; raises FileRejectedError(line, field);
4. `load(session, parsed, file_row)`: the rows and the `ingested_files` row in ONE transaction.
A rejected file is moved to COLO_OPS_HOME/quarantine/<date>/ and recorded as rejected (line, field,
error) in its own transaction, and nothing else in the store changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.errors import FileRejectedError
from flows.sources.sftp import FetchedFile, FileSource
from flows.store.db import session_scope
from flows.store.models import FileStatus, IngestedFile

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    source: str  # ingested_files.source, e.g. clearing.positions
    name: str
    business_date: dt.date
    sha256: str
    status: str  # loaded | skipped (already loaded)
    records: int = 0
    file_id: int | None = None
    report: Any = None  # the validation report (published as an artifact by the flow)
    extra: dict[str, Any] = field(default_factory=dict)


def quarantine(path: Path, home: Path, business_date: dt.date) -> Path:
    """Move a rejected file out of the inbox; never overwrite an earlier quarantined copy."""
    qdir = home / "quarantine" / business_date.isoformat()
    qdir.mkdir(parents=True, exist_ok=True)
    target = qdir / path.name
    n = 1
    while target.exists():
        target = qdir / f"{path.name}.{n}"
        n += 1
    os.replace(path, target)
    return target


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ingest(engine: Engine, source: FileSource, remote_path: str, *, kind: str, business_date: dt.date,
           home: Path, check: Callable[[Path], tuple[Any, Any]],
           load: Callable[[Session, Any, IngestedFile], int]) -> IngestResult:
    """Ingest one file. `check` returns (parsed, report) or raises FileRejectedError; `load` returns rows."""
    fetched = source.fetch(remote_path, home / "inbox" / business_date.isoformat())
    with session_scope(engine) as s:
        prior = s.scalars(select(IngestedFile).where(
            IngestedFile.sha256 == fetched.sha256, IngestedFile.business_date == business_date)).first()
        if prior is not None:
            prior_status, prior_id, prior_records = prior.status, prior.id, prior.records
            prior_error, prior_line, prior_field = prior.error, prior.line, prior.field
    if prior is not None:
        if prior_status == FileStatus.LOADED:
            # The fetch landed on the loaded copy's own inbox path with the same bytes: keep it (retention archives
            # the inbox; deleting here would lose the very file the store rows came from).
            log.info("%s already loaded for %s (sha256 %s): skipped", fetched.name, business_date, fetched.sha256)
            return IngestResult(kind, fetched.name, business_date, fetched.sha256, "skipped", prior_records or 0,
                                prior_id)
        quarantine(fetched.local, home, business_date)
        raise FileRejectedError(fetched.local, f"previously rejected: {prior_error}", prior_line, prior_field)
    try:
        parsed, report = check(fetched.local)
    except FileRejectedError as exc:
        _reject(engine, fetched, kind, business_date, home, exc)
        raise
    with session_scope(engine) as s:
        row = IngestedFile(source=kind, name=fetched.name, business_date=business_date, sha256=fetched.sha256,
                           size=fetched.size, status=FileStatus.LOADED.value, records=0, loaded_at=_now())
        s.add(row)
        s.flush()
        n = load(s, parsed, row)
        row.records = n
        file_id = row.id
    return IngestResult(kind, fetched.name, business_date, fetched.sha256, "loaded", n, file_id, report)


def _reject(engine: Engine, fetched: FetchedFile, kind: str, business_date: dt.date, home: Path,
            exc: FileRejectedError) -> None:
    where = quarantine(fetched.local, home, business_date)
    log.error("rejected %s: %s (quarantined at %s)", fetched.name, exc, where)
    with session_scope(engine) as s:
        s.add(IngestedFile(source=kind, name=fetched.name, business_date=business_date, sha256=fetched.sha256,
                           size=fetched.size, status=FileStatus.REJECTED.value, records=0,
                           error=str(exc)[:2000], line=exc.line, field=exc.field, loaded_at=_now()))
