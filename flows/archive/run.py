"""The steps of one retention run as plain functions; `flows/jobs/retention.py` wires them as Prefect tasks.

Order: finish interrupted purges → archive what is sealed → verify (new objects + rotating sample, chain,
duplicate set) → purge plan (the dry run, always recorded) → purge, only when not a dry run AND the archive
verified → mirror to the ops DB → write the attestation and archive it as a record itself.
A failed verification never purges anything; the flow reports it and then fails.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings
from flows.archive.archive import Archive, Archived, ArchiveRequest, ObjectState, ny_date
from flows.archive.collect import Discovery, discover
from flows.archive.purge import PurgeItem, PurgePlan, execute_purge, finish_interrupted_purges, plan_purge
from flows.archive.verify import VerifyResult, verify_archive
from reports.retention import RetentionAttestation, write_attestation


@dataclass
class ArchiveStep:
    discovery: Discovery
    archived: list[Archived] = field(default_factory=list)

    @property
    def new_entries(self) -> list[Archived]:
        return [a for a in self.archived if a.new_entry]


def archive_sealed(archive: Archive, settings: Settings, run_date: dt.date) -> ArchiveStep:
    found = discover(settings.home, run_date, settings.journal_dir)
    return ArchiveStep(found, archive.archive(found.requests))


def verify_step(archive: Archive, new_ids: list[str], *, full: bool, rotation: int,
                on_progress: Callable[[int, int], None] | None = None) -> VerifyResult:
    return verify_archive(archive.store, full=full, new_ids=new_ids, day=ny_date(archive.clock()), rotation=rotation,
                          on_progress=on_progress)


def purge_step(archive: Archive, *, dry_run: bool, verified: bool) -> tuple[PurgePlan, list[PurgeItem]]:
    plan = plan_purge(archive.state(), archive.clock())
    if dry_run or not verified:
        return plan, []
    return plan, execute_purge(archive, plan)


def holdings_by_class(states: dict[str, ObjectState]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"objects": 0, "bytes": 0, "on_hold": 0})
    for st in states.values():
        if st.live:
            row = out[st.record_class]
            row["objects"] += 1
            row["bytes"] += st.size
            row["on_hold"] += int(st.on_hold)
    return dict(sorted(out.items()))


def iso_utc(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_attestation(
    archive: Archive,
    run_date: dt.date,
    step: ArchiveStep,
    verified: VerifyResult,
    plan: PurgePlan,
    purged: list[PurgeItem],
    *,
    purge_executed: bool,
    mirror: str,
) -> RetentionAttestation:
    by_class: dict[str, int] = defaultdict(int)
    for a in step.new_entries:
        by_class[a.record_class] += 1
    new_objects = [a for a in step.archived if a.new_object]
    entries = archive.entries()
    return RetentionAttestation(
        run_date=run_date.isoformat(),
        run_at_utc=iso_utc(archive.clock()),
        policy_version=archive.policy.version,
        store=archive.store.describe(),
        archived_by_class=dict(sorted(by_class.items())),
        new_objects=len(new_objects),
        new_bytes=sum(a.size for a in new_objects),
        already_archived=sum(1 for a in step.archived if not a.new_entry and not a.vanished),
        holdings_by_class=holdings_by_class(archive.state()),
        skipped=[{"source": s, "why": w} for s, w in step.discovery.skipped]
        + [{"source": a.source, "why": "vanished before it could be archived (moved or deleted meanwhile)"}
           for a in step.archived if a.vanished],
        absent_sources=list(step.discovery.absent_sources),
        warnings=list(step.discovery.warnings),
        verification=verified.to_dict(),
        purge_dry_run=plan.to_dict(),
        purged=[p.to_dict() for p in purged],
        purge_executed=purge_executed,
        mirror=mirror,
        manifest_head=str(entries[-1]["hash"]) if entries else "",
        classes={c.name: {"years": c.years, "rule": c.rule, "unverified": c.unverified}
                 for c in archive.policy.classes.values()},
        accessible_note=archive.policy.accessible_note,
    )


def write_and_archive_attestation(
    archive: Archive, settings: Settings, attestation: RetentionAttestation
) -> tuple[list[Path], list[Archived]]:
    day = dt.date.fromisoformat(attestation.run_date)
    paths = list(write_attestation(attestation, settings.reports_dir(attestation.run_date) / "retention"))
    reqs = [ArchiveRequest(p, p.relative_to(settings.home).as_posix(), "retention_attestation", day) for p in paths]
    return paths, archive.archive(reqs)


def run_retention(
    archive: Archive,
    settings: Settings,
    run_date: dt.date,
    *,
    dry_run: bool = False,
    full_verify: bool = False,
    rotation: int = 7,
    db_url: str | None = None,
) -> dict[str, Any]:
    """All steps in one call (the CLI and tests use this; the flow runs the same steps as tasks)."""
    finish_interrupted_purges(archive)
    step = archive_sealed(archive, settings, run_date)
    verified = verify_step(archive, [a.object_id for a in step.new_entries], full=full_verify, rotation=rotation)
    plan, purged = purge_step(archive, dry_run=dry_run, verified=verified.ok)
    mirror = mirror_step(archive, db_url)
    att = build_attestation(archive, run_date, step, verified, plan, purged,
                            purge_executed=not dry_run and verified.ok, mirror=mirror)
    paths, _ = write_and_archive_attestation(archive, settings, att)
    return summary(att, paths)


def mirror_step(archive: Archive, db_url: str | None) -> str:
    if not db_url:
        return "not mirrored: no database configured"
    from flows.archive.mirror import mirror_to_db

    return mirror_to_db(archive.state(), db_url)


def summary(att: RetentionAttestation, paths: list[Path]) -> dict[str, Any]:
    return {
        "date": att.run_date,
        "archived": sum(att.archived_by_class.values()),
        "archived_by_class": att.archived_by_class,
        "new_objects": att.new_objects,
        "verified": bool(att.verification.get("ok")),
        "findings": [f["text"] for f in att.verification.get("findings", [])],
        "purge_eligible": len(att.purge_dry_run.get("eligible", [])),
        "purge_held": len(att.purge_dry_run.get("held", [])),
        "purged": [{"object_id": p["object_id"], "sha256": p["sha256"]} for p in att.purged],
        "mirror": att.mirror,
        "attestation": [str(p) for p in paths],
    }
