"""`retention` (nightly, 02:00 New York): archive what was sealed since the last run, verify, purge safely.

Thin wiring of flows/archive/run.py into a few coarse Prefect tasks. Parameters:
    date        the New York business date of the run (default: today in New York)
    now_ns      the clock (UTC ns) for purge decisions; None = the system clock (tests inject one)
    dry_run     plan the purge and record it, delete nothing
    full_verify re-hash every object instead of the new ones + the rotating sample
The run writes an attestation (HTML + JSON) under reports/<date>/retention/ and archives it. A failed
verification purges nothing and fails the flow after the attestation is written.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from core_bridge.settings import load_settings
from flows.archive import open_archive
from flows.archive.archive import Archive
from flows.archive.purge import PurgeItem, PurgePlan, finish_interrupted_purges
from flows.archive.run import (
    ArchiveStep,
    archive_sealed,
    build_attestation,
    mirror_step,
    purge_step,
    summary,
    verify_step,
    write_and_archive_attestation,
)
from flows.archive.verify import VerifyResult
from flows.dates import parse_date
from flows.errors import ArchiveTamperError


@task(name="archive-sealed", cache_policy=NO_CACHE)
def archive_task(archive: Archive, run_date: Any) -> ArchiveStep:
    finish_interrupted_purges(archive)
    return archive_sealed(archive, load_settings(), run_date)


@task(name="verify-archive", cache_policy=NO_CACHE)
def verify_task(archive: Archive, new_ids: list[str], full: bool, rotation: int) -> VerifyResult:
    return verify_step(archive, new_ids, full=full, rotation=rotation)


@task(name="purge-expired", cache_policy=NO_CACHE)
def purge_task(archive: Archive, dry_run: bool, verified: bool) -> tuple[PurgePlan, list[PurgeItem]]:
    return purge_step(archive, dry_run=dry_run, verified=verified)


@flow(name="retention", log_prints=False)
def retention(
    date: str | None = None, now_ns: int | None = None, dry_run: bool = False, full_verify: bool = False
) -> dict[str, Any]:
    logger = get_run_logger()
    settings = load_settings()
    clock = (lambda: now_ns) if now_ns is not None else None
    archive = open_archive(settings, clock) if clock else open_archive(settings)
    run_date = parse_date(date)
    rotation = int(settings.get("archive.verify_rotation_days", 7))

    step = archive_task(archive, run_date)
    verified = verify_task(archive, [a.object_id for a in step.new_entries], full_verify, rotation)
    plan, purged = purge_task(archive, dry_run, verified.ok)
    mirror = mirror_step(archive, settings.db_url)
    att = build_attestation(archive, run_date, step, verified, plan, purged,
                            purge_executed=not dry_run and verified.ok, mirror=mirror)
    paths, _ = write_and_archive_attestation(archive, settings, att)
    out = summary(att, paths)
    create_markdown_artifact(
        key="retention-attestation",
        markdown=(
            f"**Retention {out['date']}**: archived {out['archived']} record(s) ({out['new_objects']} new objects); "
            f"verification {'OK' if out['verified'] else 'FAILED'}; purge eligible {out['purge_eligible']}, "
            f"held {out['purge_held']}, purged {len(out['purged'])}. Attestation: {paths[-1]}"
        ),
    )
    logger.info("retention %s: %s", out["date"], {k: out[k] for k in ("archived", "verified", "purged")})
    if not verified.ok:
        first = verified.findings[0]
        raise ArchiveTamperError(
            f"archive verification failed with {len(verified.findings)} finding(s); first: {first}",
            object_id=first.object_id,
        )
    return out
