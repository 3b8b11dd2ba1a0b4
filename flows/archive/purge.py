"""Purge planning and execution: only what is past retain-until, never what is on legal hold.

A record is eligible when its retain-until date has fully ended in New York (today_ny > retain_until) and no
hold is active. The plan is pure (states + now in, plan out) so the flow can record a dry run in the report
before anything is deleted. Execution re-reads the manifest under its lock and re-checks every item (a hold
placed between plan and execution wins), writes the purge entry (with the object's SHA-256) first, then
deletes both copies: a crash in between leaves a purged entry with its file present, which verify reports
and the next purge finishes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from flows.archive.archive import Archive, ObjectState, ny_date


@dataclass(frozen=True)
class PurgeItem:
    object_id: str
    sha256: str
    size: int
    record_class: str
    record_kind: str
    business_date: str
    retain_until: str
    sources: tuple[str, ...]
    holds: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"sources": list(self.sources), "holds": list(self.holds)}


@dataclass
class PurgePlan:
    as_of: str  # the New York date the plan was made for
    eligible: list[PurgeItem] = field(default_factory=list)
    held: list[PurgeItem] = field(default_factory=list)  # past retain-until but kept: on legal hold

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "eligible": [i.to_dict() for i in self.eligible],
            "held": [i.to_dict() for i in self.held],
        }


def _item(st: ObjectState) -> PurgeItem:
    g = st.governing
    return PurgeItem(
        object_id=st.object_id,
        sha256=st.object_id,
        size=st.size,
        record_class=st.record_class,
        record_kind=str(g["record_kind"]),
        business_date=str(g["business_date"]),
        retain_until=st.retain_until.isoformat(),
        sources=tuple(sorted({e["source"] for e in st.entries})),
        holds=tuple(sorted(st.holds)),
    )


def plan_purge(states: dict[str, ObjectState], now_ns: int) -> PurgePlan:
    today = ny_date(now_ns)
    plan = PurgePlan(as_of=today.isoformat())
    for oid in sorted(states):
        st = states[oid]
        if not st.live or st.retain_until >= today:
            continue
        (plan.held if st.on_hold else plan.eligible).append(_item(st))
    return plan


def execute_purge(archive: Archive, plan: PurgePlan, actor: str = "retention") -> list[PurgeItem]:
    """Purge the plan's eligible items that are still eligible now; returns what was purged."""
    done: list[PurgeItem] = []
    with archive.store.manifest.locked():
        states = archive.state()
        now = archive.clock()
        fresh = {i.object_id for i in plan_purge(states, now).eligible}
        items = [i for i in plan.eligible if i.object_id in fresh]
        entries = [
            {
                "event": "purge",
                "ts_ns": now,
                "object_id": i.object_id,
                "sha256": i.sha256,
                "size": i.size,
                "record_class": i.record_class,
                "retain_until": i.retain_until,
                "actor": actor,
                "reason": f"retention period ended {i.retain_until}; no active hold",
            }
            for i in items
        ]
        archive.store.manifest.append(entries)
        for i in items:
            archive.store.remove(i.object_id)
            done.append(i)
    return done


def finish_interrupted_purges(archive: Archive) -> list[str]:
    """Delete objects whose purge entry exists but whose files survived (a crash after the entry)."""
    left: list[str] = []
    for oid, st in archive.state().items():
        if st.purged is not None and (archive.store.exists(oid, "primary") or archive.store.exists(oid, "duplicate")):
            archive.store.remove(oid)
            left.append(oid)
    return left
