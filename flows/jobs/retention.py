"""`retention` (nightly, 02:00 New York): archive what was sealed since the last run, verify, purge safely.

Thin wiring of flows/archive/run.py into a few coarse Prefect tasks. Parameters:
    date        the New York business date of the run (default: today in New York)
    now_ns      the clock (UTC ns) for purge decisions; None = the system clock (tests inject one)
    dry_run     plan the purge and record it, delete nothing
    full_verify re-hash every object instead of the new ones + the rotating sample
The run writes an attestation (HTML + JSON) under reports/<date>/retention/ and archives it. A failed
verification purges nothing and fails the flow after the attestation is written.
Artifacts: `retention-progress` (archive → verify → purge → attestation), `retention-attestation` (its summary
tables and files), `retention-report` (a link, when `reports.base_url` serves the reports).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
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
from flows.orchestration.artifacts import Progress, publish_report
from reports.retention import markdown_summary


@task(name="archive-sealed", cache_policy=NO_CACHE)
def archive_task(archive: Archive, run_date: Any) -> ArchiveStep:
    finish_interrupted_purges(archive)
    return archive_sealed(archive, load_settings(), run_date)


@task(name="verify-archive", cache_policy=NO_CACHE)
def verify_task(archive: Archive, new_ids: list[str], full: bool, rotation: int,
                progress: Progress | None = None) -> VerifyResult:
    def hashed(n: int, total: int) -> None:  # 40 % → 75 % while re-hashing, a few steps
        if progress is not None:
            progress.update(40 + 35 * n / total, f"verifying: {n} of {total} objects re-hashed")

    return verify_step(archive, new_ids, full=full, rotation=rotation, on_progress=hashed)


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

    progress = Progress("retention-progress", f"retention {run_date}: archiving what was sealed")
    try:
        step = archive_task(archive, run_date)
        new_ids = [a.object_id for a in step.new_entries]
        progress.update(40, f"archived {len(new_ids)} new record(s); verifying the archive"
                        f"{' (full re-hash)' if full_verify else ''}")
        verified = verify_task(archive, new_ids, full_verify, rotation, progress)
        progress.update(75, f"verification {'OK' if verified.ok else 'FAILED'} ({verified.objects_hashed} "
                        f"re-hashed); purge {'dry run' if dry_run else 'of expired records'}")
        plan, purged = purge_task(archive, dry_run, verified.ok)
        progress.update(85, f"purged {len(purged)}; mirroring to the ops DB and writing the attestation")
        mirror = mirror_step(archive, settings.db_url)
        att = build_attestation(archive, run_date, step, verified, plan, purged,
                                purge_executed=not dry_run and verified.ok, mirror=mirror)
        paths, _ = write_and_archive_attestation(archive, settings, att)
    except Exception as exc:
        progress.failed(exc)
        raise
    out = summary(att, paths)
    publish_report("retention-attestation", markdown_summary(att), [paths[-1], paths[0]], settings=settings,
                   description=f"retention {out['date']}", link_key="retention-report")
    progress.done(f"archived {out['archived']}, verification {'OK' if out['verified'] else 'FAILED'}, "
                  f"purged {len(out['purged'])}")
    logger.info("retention %s: %s", out["date"], {k: out[k] for k in ("archived", "verified", "purged")})
    if not verified.ok:
        first = verified.findings[0]
        raise ArchiveTamperError(
            f"archive verification failed with {len(verified.findings)} finding(s); first: {first}",
            object_id=first.object_id,
        )
    return out
