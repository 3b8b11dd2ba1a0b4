"""A day's CAT work as plain functions: seal the day's events; seal repairs and corrections.

Flows call these; they take data and paths and return what they sealed, never touching Prefect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hw.refdata import Account
from reports.cat.config import CatConfig
from reports.cat.encode import date_int
from reports.cat.events import Record, iter_records
from reports.cat.feedback import FeedbackError, build_corrections, build_repairs
from reports.cat.package import Submission, read_data_file, seal_records, sealed_submissions
from reports.cat.partition import chains_of
from reports.cat.rules import Finding
from reports.errors import CatValidationError


def cat_dir_for(reports_dir: Path) -> Path:
    return reports_dir / "cat"


def seal_day(events: np.ndarray, accounts: Mapping[str, Account], cfg: CatConfig, day: dt.date, cat_dir: Path, *,
             now_ns: int, strict: bool = False, workers: int = 2, resubmit: bool = False) -> Submission:
    """Build, validate (schema + cross-record) and seal the day's NEW events; idempotent for the same input."""
    return seal_records(iter_records(events, accounts, cfg), cfg, date_int(day), cat_dir, now_ns=now_ns,
                        strict=strict, workers=workers, resubmit=resubmit)


def sealed_records(cat_dir: Path, kinds: tuple[str, ...] = ("NEW",)) -> dict[str, dict[str, Any]]:
    """firmROEID -> record, from the sealed data files of the given submission kinds."""
    out: dict[str, dict[str, Any]] = {}
    for sub in sealed_submissions(cat_dir):
        if sub.kind in kinds:
            for f in sub.files:
                for r in read_data_file(cat_dir / f.name):
                    out[r["firmROEID"]] = r
    return out


def repaired_error_ids(cat_dir: Path) -> set[int]:
    """errorROEIDs an RPR has already been sealed for (a rerun of cat-feedback repairs nothing twice)."""
    return {int(r["errorROEID"]) for sub in sealed_submissions(cat_dir) if sub.kind == "RPR"
            for f in sub.files for r in read_data_file(cat_dir / f.name) if "errorROEID" in r}


def seal_repairs(errors: list[FeedbackError], events: np.ndarray, accounts: Mapping[str, Account], cfg: CatConfig,
                 day: dt.date, cat_dir: Path, *, now_ns: int) -> tuple[Submission | None, list[FeedbackError]]:
    """RPR records for errors not yet repaired, restated from a fresh build of the day, in a new file."""
    done = repaired_error_ids(cat_dir)
    todo = [e for e in errors if e.error_roe_id not in done]
    if not todo:
        return None, []
    # only the order chains in error are rebuilt (the same records a whole-day build gives them); the sealed
    # files are read only when an event is no longer built
    chains = chains_of(events, [e.firm_roe_id for e in todo])
    current: dict[str, Record] = {r["firmROEID"]: r for r in iter_records(chains, accounts, cfg)}
    if any(e.firm_roe_id not in current for e in todo):
        for roe, rec in sealed_records(cat_dir).items():
            current.setdefault(roe, rec)
    repairs, missing = build_repairs(todo, current)
    if not repairs:
        return None, missing
    sub = seal_records(repairs, cfg, date_int(day), cat_dir, now_ns=now_ns, kind="RPR", cross_check=False,
                       strict=True, workers=1)
    return sub, missing


def seal_corrections(changes: Mapping[str, Mapping[str, Any]], cfg: CatConfig, day: dt.date, cat_dir: Path, *,
                     now_ns: int) -> Submission:
    """COR records (original firmROEID, changed fields restated) in a new file + metadata."""
    originals = sealed_records(cat_dir)
    missing = [roe for roe in changes if roe not in originals]
    if missing:
        raise CatValidationError([Finding("correction_target", "no sealed NEW event with this firmROEID", roe)
                                  for roe in missing])
    cors = build_corrections(originals, changes)
    return seal_records(cors, cfg, date_int(day), cat_dir, now_ns=now_ns, kind="COR", cross_check=False,
                        strict=True, workers=1)
