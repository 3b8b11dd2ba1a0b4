"""Automatic verification of the archive (17a-4: verify completeness and accuracy of storage).

Checks, each finding naming the object id or the manifest line at fault:
- the manifest chain (edited, reordered, inserted, removed or torn lines);
- the duplicate manifest is byte-identical to the primary (a missing tail on either side is named);
- every live object exists in both copies with its recorded size; a purged object is gone from both;
- re-hash: every object in `new_ids`, plus a rotating sample (or all of them with `full=True`), in both
  copies; the sample is the objects whose id falls in today's bucket of `rotation` buckets, so every
  object is re-hashed at least once every `rotation` days;
- stray files in the object directories that no manifest entry accounts for.

Hashing runs on a thread pool: hashlib releases the GIL on large updates, so both cores hash at once.
The duplicate copy is compared byte for byte with the primary while the primary is hashed (memcmp is far
cheaper than SHA-256); a duplicate that differs is hashed on its own and named.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from flows.archive.archive import ObjectState, ny_date, replay
from flows.archive.manifest import check_chain, parse_lines
from flows.archive.store import COPIES, ArchiveStore, Copy, is_object_id

PROGRESS_STEPS = 4  # on_progress at 1/4, 2/4 and 3/4 of the objects to re-hash


@dataclass(frozen=True)
class Finding:
    check: str  # manifest_chain | duplicate_manifest | object_missing | object_corrupt | size_mismatch |
    #             purged_present | stray_object
    copy: str  # primary | duplicate
    message: str
    object_id: str | None = None
    line: int | None = None  # 1-based manifest line

    def __str__(self) -> str:
        where = f"manifest line {self.line}" if self.line is not None else ""
        if self.object_id:
            where = f"{where} object {self.object_id}".strip()
        return f"[{self.copy}] {self.check}: {where}: {self.message}"


@dataclass
class VerifyResult:
    mode: str  # full | sample
    manifest_entries: int = 0
    objects_live: int = 0
    objects_hashed: int = 0  # distinct objects re-hashed (each in both copies)
    bytes_hashed: int = 0
    findings: list[Finding] = field(default_factory=list)
    head_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": self.mode,
            "manifest_entries": self.manifest_entries,
            "manifest_head": self.head_hash,
            "objects_live": self.objects_live,
            "objects_hashed": self.objects_hashed,
            "bytes_hashed": self.bytes_hashed,
            "findings": [asdict(f) | {"text": str(f)} for f in self.findings],
        }


def _manifest_findings(store: ArchiveStore, primary: bytes) -> list[Finding]:
    out = [Finding("manifest_chain", "primary", c.problem, c.object_id, c.line) for c in check_chain(primary)]
    dup_path = store.manifest.duplicate
    if dup_path is None:
        return out
    try:
        dup = dup_path.read_bytes()
    except FileNotFoundError:
        if primary:
            out.append(Finding("duplicate_manifest", "duplicate", f"duplicate manifest missing: {dup_path}"))
        return out
    if dup == primary:
        return out
    out += [Finding("manifest_chain", "duplicate", c.problem, c.object_id, c.line) for c in check_chain(dup)]
    p_lines, d_lines = primary.splitlines(), dup.splitlines()
    for n, (a, b) in enumerate(zip(p_lines, d_lines, strict=False), start=1):
        if a != b:
            out.append(Finding("duplicate_manifest", "duplicate", "line differs from the primary manifest", None, n))
            break
    else:
        if len(d_lines) < len(p_lines):
            out.append(
                Finding("duplicate_manifest", "duplicate", f"missing lines {len(d_lines) + 1}..{len(p_lines)}",
                        None, len(d_lines) + 1)
            )
        elif len(p_lines) < len(d_lines):
            out.append(
                Finding("duplicate_manifest", "primary",
                        f"primary lacks lines {len(p_lines) + 1}..{len(d_lines)} present in the duplicate (truncated)",
                        None, len(p_lines) + 1)
            )
    return out


def in_sample(object_id: str, day: dt.date, rotation: int) -> bool:
    return rotation <= 1 or int(object_id[:8], 16) % rotation == day.toordinal() % rotation


def _hash_job(store: ArchiveStore, object_id: str) -> tuple[str, dict[Copy, str | None]]:
    primary, duplicate = store.hash_pair(object_id)
    return object_id, {"primary": primary, "duplicate": duplicate}


def verify_archive(
    store: ArchiveStore,
    *,
    full: bool = True,
    new_ids: Iterable[str] = (),
    day: dt.date | None = None,
    rotation: int = 7,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """`on_progress(hashed, to_hash)` is called a few times while re-hashing (PROGRESS_STEPS, never per object)."""
    primary = store.manifest.read_bytes()
    parsed = [e for _n, e, _raw in parse_lines(primary) if e is not None]
    states: dict[str, ObjectState] = replay(parsed)
    res = VerifyResult(mode="full" if full else "sample", manifest_entries=len(parsed))
    res.head_hash = str(parsed[-1].get("hash", "")) if parsed else ""
    res.findings += _manifest_findings(store, primary)

    new = set(new_ids)
    today = day or ny_date(time.time_ns())
    to_hash: list[str] = []
    for oid, st in sorted(states.items()):
        if not st.live:
            for copy in COPIES:
                if store.exists(oid, copy):
                    res.findings.append(Finding("purged_present", copy, "purged object still present", oid))
            continue
        res.objects_live += 1
        for copy in COPIES:
            size = store.size(oid, copy)
            if size is None:
                res.findings.append(Finding("object_missing", copy, "object file missing", oid, st.first_seq))
            elif size != st.size:
                res.findings.append(
                    Finding("size_mismatch", copy, f"size {size} != recorded {st.size}", oid, st.first_seq)
                )
        if full or oid in new or in_sample(oid, today, rotation):
            to_hash.append(oid)

    # Largest first, so the two workers finish together instead of one hashing the last big segment alone.
    to_hash.sort(key=lambda oid: -states[oid].size)
    marks = {len(to_hash) * k // PROGRESS_STEPS for k in range(1, PROGRESS_STEPS)} - {0}
    results = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for n, result in enumerate(pool.map(lambda oid: _hash_job(store, oid), to_hash), start=1):
            results.append(result)
            if on_progress is not None and n in marks:
                on_progress(n, len(to_hash))
    for oid, digests in results:
        for copy in COPIES:
            digest = digests[copy]
            if digest is None:
                continue  # already reported as missing above (or vanished: the next run reports it)
            if digest != oid:
                res.findings.append(
                    Finding("object_corrupt", copy, f"content hashes to {digest}", oid, states[oid].first_seq)
                )
            else:
                res.bytes_hashed += states[oid].size
    res.objects_hashed = len(to_hash)

    for copy in COPIES:
        for name in store.list_objects(copy):
            if not is_object_id(name) or name not in states:
                res.findings.append(Finding("stray_object", copy, f"file {name!r} has no manifest entry", name))
    return res
