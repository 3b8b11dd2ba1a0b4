"""17a-4 record retention: a verifiable, write-once archive with retention classes, legal holds and safe purge.

Plain functions and classes only (no Prefect); `flows/jobs/retention.py` and `flows/opsctl/archive.py` wire them.

    policy.py    retention classes and record kind -> class (retention_policy.toml)
    store.py     ArchiveStore interface + LocalArchiveStore (primary + duplicate set, write once)
    manifest.py  append-only, hash-chained manifest (the source of truth)
    archive.py   Archive: archive records, legal holds, state replayed from the manifest
    collect.py   which files under COLO_OPS_HOME are records, their kind and business date
    verify.py    chain, duplicate set, existence and re-hash checks, each finding named
    purge.py     purge plan (pure) and execution (manifest entry first, then delete)
    mirror.py    copy of the per-object state into the ops DB (retention_items)

Invariants: an object is never replaced; a manifest line is never rewritten; an object on hold is never
purged; a purge happens only after retain-until has ended in New York.
"""

from __future__ import annotations

from pathlib import Path

from core_bridge.settings import Settings, load_settings
from flows.archive.archive import Archive, ArchiveRequest, Clock, ObjectState, system_clock
from flows.archive.policy import DEFAULT_POLICY, RetentionPolicy, load_policy
from flows.archive.store import ArchiveStore, LocalArchiveStore

__all__ = [
    "Archive",
    "ArchiveRequest",
    "ArchiveStore",
    "Clock",
    "LocalArchiveStore",
    "ObjectState",
    "RetentionPolicy",
    "load_policy",
    "open_archive",
    "system_clock",
]


def archive_dirs(settings: Settings) -> tuple[Path, Path]:
    """(primary, duplicate) roots: `archive.dir` / `archive.duplicate_dir` (env COLO_OPS_ARCHIVE_DIR,
    COLO_OPS_ARCHIVE_DUPLICATE_DIR). In production the duplicate belongs on another file system or host."""
    primary = Path(settings.get("archive.dir", str(settings.archive_dir)))
    duplicate = Path(settings.get("archive.duplicate_dir", str(settings.home / "archive-duplicate")))
    return primary, duplicate


def open_archive(settings: Settings | None = None, clock: Clock = system_clock) -> Archive:
    settings = settings or load_settings()
    primary, duplicate = archive_dirs(settings)
    policy = load_policy(Path(settings.get("archive.policy", str(DEFAULT_POLICY))))
    store = LocalArchiveStore(primary, duplicate)
    return Archive(store, policy, clock, scan_cache=primary / "scan-cache.json")
