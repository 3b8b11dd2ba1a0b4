"""The archive as a whole: a store, the retention policy and a clock, and the state replayed from the manifest.

`Archive` is what the flow and the CLI use. All writes go through the manifest lock: archive entries,
legal holds (who/why) and purges are manifest events; the per-object state (retain-until, holds, purged) is
always derived by replaying the manifest, never kept elsewhere as truth.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from flows.archive.policy import RetentionPolicy
from flows.archive.store import ArchiveStore, hash_file
from flows.dates import today_ny
from flows.errors import ArchiveError

Clock = Callable[[], int]  # UTC nanoseconds; injectable so purge tests need not wait for years


def system_clock() -> int:
    return time.time_ns()


def ny_date(ns: int) -> dt.date:
    """The New York calendar date of a UTC-ns instant (retention and purge decisions are made in New York)."""
    return today_ny(dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC))


@dataclass
class ObjectState:
    """One object as the manifest says it is now."""

    object_id: str
    size: int
    entries: list[dict[str, Any]] = field(default_factory=list)  # its archive entries (one per source)
    holds: dict[str, dict[str, Any]] = field(default_factory=dict)  # active holds by hold id
    purged: dict[str, Any] | None = None
    first_seq: int = 0

    @property
    def retain_until(self) -> dt.date:
        """The latest retain-until over all its archive entries: a copy kept for one record keeps all."""
        return max(dt.date.fromisoformat(e["retain_until"]) for e in self.entries)

    @property
    def governing(self) -> dict[str, Any]:
        return max(self.entries, key=lambda e: (e["retain_until"], e["seq"]))

    @property
    def record_class(self) -> str:
        return str(self.governing["record_class"])

    @property
    def on_hold(self) -> bool:
        return bool(self.holds)

    @property
    def live(self) -> bool:
        return self.purged is None

    def summary(self) -> dict[str, Any]:
        g = self.governing
        return {
            "object_id": self.object_id,
            "size": self.size,
            "record_class": self.record_class,
            "record_kind": g["record_kind"],
            "business_date": g["business_date"],
            "retain_until": self.retain_until.isoformat(),
            "sources": sorted({e["source"] for e in self.entries}),
            "on_hold": self.on_hold,
            "holds": sorted(self.holds),
            "purged": self.purged is not None,
        }


def replay(entries: Iterable[dict[str, Any]]) -> dict[str, ObjectState]:
    states: dict[str, ObjectState] = {}
    for e in entries:
        oid = e.get("object_id")
        if not isinstance(oid, str):
            continue
        ev = e.get("event")
        if ev == "archive":
            st = states.get(oid)
            if st is None:
                st = states[oid] = ObjectState(oid, int(e["size"]), first_seq=int(e["seq"]))
            elif st.purged is not None:  # the same bytes archived again from a new source: a new lifecycle
                st.purged, st.entries, st.first_seq = None, [], int(e["seq"])
            st.entries.append(e)
        elif oid in states:
            st = states[oid]
            if ev == "hold":
                st.holds[str(e["hold_id"])] = e
            elif ev == "release":
                st.holds.pop(str(e["hold_id"]), None)
            elif ev == "purge":
                st.purged = e
    return states


@dataclass(frozen=True)
class ArchiveRequest:
    """A record to archive: the file, its path relative to COLO_OPS_HOME, its kind and business date."""

    path: Path
    source: str
    kind: str
    business_date: dt.date


@dataclass(frozen=True)
class Archived:
    object_id: str
    source: str
    kind: str
    record_class: str
    size: int
    new_object: bool  # bytes were written to the store
    new_entry: bool  # a manifest entry was added (False: this source already archived with these bytes)
    vanished: bool = False  # the file was moved or deleted between discovery and archiving


class Archive:
    def __init__(
        self,
        store: ArchiveStore,
        policy: RetentionPolicy,
        clock: Clock = system_clock,
        scan_cache: Path | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        # source -> [size, mtime_ns, object_id] of files already archived: lets a nightly run skip reading
        # unchanged files. Only a cache: a miss just re-hashes; the manifest decides what is archived.
        self.scan_cache = scan_cache

    def _load_cache(self) -> dict[str, list[Any]]:
        if self.scan_cache is None:
            return {}
        try:
            data = orjson.loads(self.scan_cache.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_cache(self, cache: dict[str, list[Any]]) -> None:
        if self.scan_cache is None:
            return
        tmp = self.scan_cache.with_name(self.scan_cache.name + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(orjson.dumps(cache, option=orjson.OPT_SORT_KEYS))
        tmp.replace(self.scan_cache)

    # --- reading ---
    def entries(self) -> list[dict[str, Any]]:
        return self.store.manifest.entries()

    def state(self) -> dict[str, ObjectState]:
        return replay(self.entries())

    def resolve(self, ref: str, states: dict[str, ObjectState] | None = None) -> str:
        """An object id from a full id or a unique prefix (>= 8 hex digits)."""
        states = self.state() if states is None else states
        if ref in states:
            return ref
        if len(ref) < 8:
            raise ArchiveError(f"object id prefix {ref!r} too short (need at least 8 hex digits)")
        hits = [oid for oid in states if oid.startswith(ref)]
        if len(hits) != 1:
            raise ArchiveError(f"object id {ref!r} matches {len(hits)} archived objects")
        return hits[0]

    def audit_trail(self, object_id: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("object_id") == object_id]

    # --- writing ---
    def archive(self, requests: Iterable[ArchiveRequest], actor: str = "retention") -> list[Archived]:
        """Store each file and add one manifest entry per new (object, source) pair, atomically per batch.

        Same bytes from the same source again add nothing (re-runs archive nothing twice, and a purged record
        whose source file still exists is not resurrected); same bytes from another source add an entry
        for that source pointing at the existing object.
        """
        out: list[Archived] = []
        requests = list(requests)
        for req in requests:  # every kind must have a class before anything is written
            self.policy.class_for(req.kind)
        with self.store.manifest.locked():
            states = self.state()
            seen = {(oid, e["source"]) for oid, st in states.items() for e in st.entries}
            pending: list[dict[str, Any]] = []
            cache = self._load_cache()
            for req in requests:
                cls = self.policy.class_for(req.kind)
                gone = Archived("", req.source, req.kind, cls.name, 0, False, False, vanished=True)
                try:
                    st_file = req.path.stat()
                    hit = cache.get(req.source)
                    if (hit and hit[0] == st_file.st_size and hit[1] == st_file.st_mtime_ns
                            and (hit[2], req.source) in seen):
                        out.append(Archived(hit[2], req.source, req.kind, cls.name, hit[0], False, False))
                        continue
                    oid, size = hash_file(req.path)
                    cache[req.source] = [st_file.st_size, st_file.st_mtime_ns, oid]
                    if (oid, req.source) in seen:  # also true after a purge: a purged record is never resurrected
                        out.append(Archived(oid, req.source, req.kind, cls.name, size, False, False))
                        continue
                    put = self.store.put_file(req.path, oid)  # id of the bytes copied, should the file change
                except FileNotFoundError:  # e.g. a loader moved it to quarantine: found there next run
                    out.append(gone)
                    continue
                cache[req.source][2] = put.object_id
                seen.add((put.object_id, req.source))
                st = states.get(put.object_id)
                pending.append(
                    {
                        "event": "archive",
                        "ts_ns": self.clock(),
                        "object_id": put.object_id,
                        "size": put.size,
                        "record_class": cls.name,
                        "rule": cls.rule,
                        "record_kind": req.kind,
                        "source": req.source,
                        "business_date": req.business_date.isoformat(),
                        "retain_until": add_retention(self.policy, req.kind, req.business_date).isoformat(),
                        "on_hold": bool(st and st.on_hold),
                        "policy_version": self.policy.version,
                        "actor": actor,
                    }
                )
                out.append(Archived(put.object_id, req.source, req.kind, cls.name, put.size, put.created, True))
            self.store.manifest.append(pending)
            self._save_cache(cache)
        return out

    def place_hold(self, refs: Iterable[str], actor: str, reason: str) -> list[dict[str, Any]]:
        """Put objects on legal hold (no expiry; blocks purge until released). Returns the hold entries."""
        _need_who_why(actor, reason)
        with self.store.manifest.locked():
            states = self.state()
            ids = [self.resolve(r, states) for r in refs]
            for oid in ids:
                if not states[oid].live:
                    raise ArchiveError(f"object {oid} was purged; nothing to hold")
            now = self.clock()
            entries = [
                {
                    "event": "hold",
                    "ts_ns": now,
                    "object_id": oid,
                    "hold_id": f"H{uuid.uuid4().hex[:12]}",
                    "actor": actor,
                    "reason": reason,
                }
                for oid in ids
            ]
            return self.store.manifest.append(entries)

    def release_hold(self, ref: str, actor: str, reason: str) -> list[dict[str, Any]]:
        """Release one hold (by hold id) or every hold on an object (by object id or prefix)."""
        _need_who_why(actor, reason)
        with self.store.manifest.locked():
            states = self.state()
            targets: list[tuple[str, str]] = []
            for oid, st in states.items():
                if ref in st.holds:
                    targets.append((oid, ref))
            if not targets:
                oid = self.resolve(ref, states)
                targets = [(oid, hid) for hid in sorted(states[oid].holds)]
                if not targets:
                    raise ArchiveError(f"object {oid} has no active hold")
            now = self.clock()
            entries = [
                {"event": "release", "ts_ns": now, "object_id": oid, "hold_id": hid, "actor": actor, "reason": reason}
                for oid, hid in targets
            ]
            return self.store.manifest.append(entries)


def add_retention(policy: RetentionPolicy, kind: str, business_date: dt.date) -> dt.date:
    return policy.retain_until(kind, business_date)


def _need_who_why(actor: str, reason: str) -> None:
    if not actor.strip() or not reason.strip():
        raise ArchiveError("a legal hold or release needs who (actor) and why (reason)")
