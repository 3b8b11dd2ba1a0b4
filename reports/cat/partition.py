"""The CAT build cut into partitions that can run anywhere: plan, build one partition, commit them all.

Why this shape: a billion events do not fit one process, and workers must not ship records to each other.
A partition is a set of *order chains* (an order and every order that replaced it), so everything the
builder and the cross-record rules (rules.py) need about an order is inside one partition: order-key
uniqueness, links to the MENO, leavesQty and timestamps-in-order are all per order. The one rule that spans
orders, route-linkage uniqueness, is checked twice: inside each partition, and across partitions from the
stable 64-bit route keys every partition writes beside its files (a deterministic second pass on small
arrays). firmROEIDs come from (epoch, seq), each event being in one partition; a day with a repeated
(epoch, seq) is planned as a single partition so the unique-firmROEID rule sees all of it.

Determinism: the number of partitions depends on the day's event count and `partition_events` only, never
on how many workers run them. Partition p holds the chains whose representative (smallest order id) hashes
to p; its records are in journal order; files are numbered partition by partition, then in cut order. One
partition is exactly the single-process build. The same day therefore seals byte-identical files on 1, 2
or 100 workers (changing `partition_events` or `max_file_bytes` changes the layout, as a new fileVersion
would: keep them fixed for a date).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventType
from hw.refdata import Account
from reports.cat.config import CatConfig
from reports.cat.encode import et_date_int
from reports.cat.events import Record, iter_records
from reports.cat.package import Submission, _chunks, _commit, _seal_chunk
from reports.cat.rules import CrossRecordChecker, Finding
from reports.errors import CatValidationError

_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: consecutive ids spread evenly over partitions
ROUTE_DTYPE = np.dtype([("key", "<u8"), ("roe", "S40")])


@dataclass(frozen=True)
class Plan:
    """How a day is cut: `n_parts` partitions; `chain_ids` (sorted) map to `chain_reps` (their chain's
    smallest order id). Ids in no replace chain are their own representative."""

    n_parts: int
    chain_ids: np.ndarray
    chain_reps: np.ndarray

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, n_parts=np.array([self.n_parts]), ids=self.chain_ids, reps=self.chain_reps)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Plan:
        with np.load(path) as z:
            return cls(int(z["n_parts"][0]), z["ids"], z["reps"])


def n_partitions(n_events: int, partition_events: int) -> int:
    return max(1, -(-n_events // max(1, partition_events)))


def chain_map(order_id: np.ndarray, orig_order_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, reps) for the replace edges new -> old: label propagation with pointer jumping, vectorised
    (chains are short, so a few rounds)."""
    keep = (order_id != 0) & (orig_order_id != 0)
    a_ids, b_ids = order_id[keep].astype(np.uint64), orig_order_id[keep].astype(np.uint64)
    if not len(a_ids):
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    ids, inv = np.unique(np.concatenate([a_ids, b_ids]), return_inverse=True)
    a, b = inv[: len(a_ids)], inv[len(a_ids):]
    lab = np.arange(len(ids))
    while True:
        m = np.minimum(lab[a], lab[b])
        new = lab.copy()
        np.minimum.at(new, a, m)
        np.minimum.at(new, b, m)
        new = new[new]
        if np.array_equal(new, lab):
            break
        lab = new
    return ids, ids[lab]  # ids are sorted, so the smallest label is the smallest id of the chain


def plan_day(batches: Iterator[np.ndarray], partition_events: int, *, unique_positions: bool = False
             ) -> tuple[Plan, int]:
    """One pass over the day's event batches: (plan, event count). Reads only a few columns.
    `unique_positions`: the source guarantees (epoch, seq) unique (the journal does), so the check, 8 bytes
    an event, is skipped."""
    n = 0
    new_ids, old_ids, positions = [], [], []
    for b in batches:
        n += len(b)
        rep = b["etype"] == EventType.ORDER_REPLACED
        new_ids.append(b["order_id"][rep])
        old_ids.append(b["orig_order_id"][rep])
        if not unique_positions:
            positions.append((b["epoch"].astype(np.uint64) << np.uint64(40)) | b["seq"].astype(np.uint64))
    n_parts = n_partitions(n, partition_events)
    if n_parts > 1 and positions:
        pos = np.concatenate(positions)
        if len(np.unique(pos)) != len(pos):  # repeated (epoch, seq): keep the firmROEID rule whole
            n_parts = 1
    if n_parts == 1 or not new_ids:
        return Plan(n_parts, np.zeros(0, np.uint64), np.zeros(0, np.uint64)), n
    ids, reps = chain_map(np.concatenate(new_ids), np.concatenate(old_ids))
    return Plan(n_parts, ids, reps), n


def chain_keys(events: np.ndarray, ids: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Every event's chain representative (0 for events without an order id)."""
    oid = events["order_id"].astype(np.uint64)
    key = oid.copy()
    if len(ids):
        pos = np.minimum(np.searchsorted(ids, oid), len(ids) - 1)
        hit = ids[pos] == oid
        key[hit] = reps[pos[hit]]
    return key


def chains_of(events: np.ndarray, firm_roe_ids: list[str]) -> np.ndarray:
    """Only the events of the order chains the given firmROEIDs come from, in their order: what a repair
    needs rebuilt (a chain's records depend on its own events alone), instead of the whole day."""
    wanted = set()
    for roe in firm_roe_ids:
        try:
            epoch, seq, _k = roe.split("_", 1)[1].split(".")
            wanted.add((int(epoch) << 40) | int(seq))
        except (IndexError, ValueError):
            continue  # not one of ours: build_repairs reports it as unrepairable
    pos = (events["epoch"].astype(np.uint64) << np.uint64(40)) | events["seq"].astype(np.uint64)
    hit = np.isin(pos, np.fromiter(wanted, np.uint64, len(wanted)))
    rep = events["etype"] == EventType.ORDER_REPLACED
    keys = chain_keys(events, *chain_map(events["order_id"][rep], events["orig_order_id"][rep]))
    return events[np.isin(keys, np.unique(keys[hit]))]


def partition_of(events: np.ndarray, plan: Plan) -> np.ndarray:
    """The partition of every event (events without an order id go to partition 0)."""
    oid = events["order_id"].astype(np.uint64)
    if plan.n_parts == 1:
        return np.zeros(len(oid), np.int64)
    key = chain_keys(events, plan.chain_ids, plan.chain_reps)
    with np.errstate(over="ignore"):
        part = ((key * _MIX) >> np.uint64(32)) % np.uint64(plan.n_parts)
    part[oid == 0] = 0
    return part.astype(np.int64)


@dataclass
class PartFile:
    partial: str
    records: int
    sha256: str
    raw_bytes: int


@dataclass
class PartitionResult:
    """What a partition sends back: paths, counts, hashes and findings (never records)."""

    part: int
    events: int
    files: list[PartFile] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    routes: str = ""  # .npy of ROUTE_DTYPE: stable route-linkage keys, for the cross-partition check
    peak_rss_kb: int = 0
    worker: str = ""  # host:pid that built it (which worker, for the run log)


def route_key(r: Record) -> int | None:
    """Stable (process-independent) 64-bit route-linkage key of a MEOR/MEMR, as rules.py defines the key."""
    ts = r.get("eventTimestamp")
    if r.get("type") not in ("MEOR", "MEMR") or r.get("dupROIDCond") or type(ts) is not int:
        return None
    text = "\x1f".join(str(x) for x in (et_date_int(ts), r.get("senderIMID"), r.get("destination"), r.get("symbol"),
                                          r.get("session"), r.get("routedOrderID")))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def build_partition(events: np.ndarray, accounts: Mapping[str, Account], cfg: CatConfig, part: int,
                    out_dir: Path, *, now_ns: int, strict: bool = False) -> PartitionResult:
    """Build, check, encode and compress one partition's records into `out_dir`; returns its manifest.
    Rerunnable: a retried partition rewrites the same partial files."""
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must have EVENT_DTYPE, got {events.dtype}")
    out_dir.mkdir(parents=True, exist_ok=True)
    checker = CrossRecordChecker(cfg.imid, now_ns)
    res = PartitionResult(part, len(events))
    routes: list[tuple[int, bytes]] = []

    def tap(records: Iterator[Record]) -> Iterator[Record]:
        for r in records:
            k = route_key(r) if r["type"] in ("MEOR", "MEMR") else None
            if k is not None:
                routes.append((k, r["firmROEID"].encode()))
            yield r

    chunks = _chunks(tap(iter_records(events, accounts, cfg)), cfg.max_file_bytes, checker, res.counts)
    for i, blob in enumerate(chunks):
        if not blob:
            continue
        final = out_dir / f"p{part:05d}.{i:05d}.partial"
        tmp = out_dir / f"p{part:05d}.{i:05d}.tmp"
        _, n, sha, raw, found = _seal_chunk((i, blob, str(tmp), strict))
        os.replace(tmp, final)
        res.files.append(PartFile(str(final), n, sha, raw))
        res.findings += [dataclasses.replace(f, file=f"partition {part} file {i}") for f in found]
    res.findings += checker.finish()
    arr = np.array(routes, dtype=ROUTE_DTYPE) if routes else np.zeros(0, ROUTE_DTYPE)
    route_path = out_dir / f"p{part:05d}.routes.npy"
    np.save(out_dir / f"p{part:05d}.routes.tmp.npy", arr)
    os.replace(out_dir / f"p{part:05d}.routes.tmp.npy", route_path)
    res.routes = str(route_path)
    return res


def cross_partition_findings(results: list[PartitionResult]) -> list[Finding]:
    """Route-linkage keys repeated across partitions (each partition has already checked its own)."""
    if len(results) < 2:
        return []
    parts = [np.load(r.routes) for r in results]
    keys = np.concatenate([np.unique(p["key"]) for p in parts])
    uniq, counts = np.unique(keys, return_counts=True)
    dup = set(uniq[counts > 1].tolist())
    out = []
    for r, p in zip(results, parts, strict=True):
        for k, roe in zip(p["key"].tolist(), p["roe"].tolist(), strict=True):
            if k in dup:
                out.append(Finding("route_linkage_unique", f"route linkage key repeats a route of another "
                                   f"partition (found in partition {r.part})", roe.decode(), "", "routedOrderID"))
    return out


def commit_partitions(results: list[PartitionResult], cfg: CatConfig, date_int: int, cat_dir: Path, *,
                      kind: str = "NEW", resubmit: bool = False, strict: bool = False) -> Submission:
    """Number and seal every partition's files in partition order, with metadata, or raise
    CatValidationError with every finding and seal nothing. Partial files are removed either way."""
    results = sorted(results, key=lambda r: r.part)
    if [r.part for r in results] != list(range(len(results))):
        raise ValueError(f"partitions {[r.part for r in results]} are not 0..{len(results) - 1}")
    cat_dir.mkdir(parents=True, exist_ok=True)
    (cat_dir / ".work").mkdir(exist_ok=True)
    files = [f for r in results for f in r.files]
    partials = [Path(f.partial) for f in files]
    try:
        findings = [f for r in results for f in r.findings] + cross_partition_findings(results)
        if findings:
            raise CatValidationError(findings)
        counts: dict[str, int] = {}
        for r in results:
            for k, v in r.counts.items():
                counts[k] = counts.get(k, 0) + v
        if not files:  # an empty day still seals one (empty) data file, as the single-process build does
            empty = cat_dir / ".work" / f"{kind}.empty.partial"
            _, n, sha, raw, _ = _seal_chunk((0, b"", str(empty), strict))
            files, partials = [PartFile(str(empty), n, sha, raw)], [empty]
        sealed: list[tuple[int, int, str, int, list[Finding]]] = [
            (i, f.records, f.sha256, f.raw_bytes, []) for i, f in enumerate(files)]
        return _commit(cfg, date_int, cat_dir, sealed, partials, kind, True, resubmit, counts)
    finally:
        for p in partials:
            p.unlink(missing_ok=True)
        for r in results:
            if r.routes:
                Path(r.routes).unlink(missing_ok=True)


def summarize(results: list[PartitionResult]) -> dict[str, Any]:
    return {"partitions": len(results), "events": sum(r.events for r in results),
            "files": sum(len(r.files) for r in results),
            "peak_rss_mb": max((r.peak_rss_kb for r in results), default=0) / 1024,
            "workers": sorted({r.worker for r in results if r.worker})}
