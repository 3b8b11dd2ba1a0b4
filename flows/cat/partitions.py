"""Where the CAT build's stages read and write (no Prefect, no Dask here): plan, split, build.

    plan       one cheap pass over the day (three columns, memory-mapped): the order chains and the number
               of partitions (reports.cat.partition.plan_day); saved as files in the run's work folder
    split      per journal range (a run of whole segments): read the range itself, CRC-checking every
               record, keep the day's events and write them sorted by partition (stable, so journal order
               holds inside a partition) with an offsets table: one file per range
    build      per partition: its slice of every range file, in range order (= journal order), then
               records, checks, JSON, bzip2 and its own partial files (reports.cat.partition.build_partition)

Every stage reads what it needs from files and writes its output as files; only manifests (paths, counts,
hashes, findings) travel back. Each event is read twice and written once whatever the number of
partitions. A worker on another host therefore needs the journal and the reports folder on shared storage
under the same paths, and nothing else from the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.journal.reader import read_segment
from core_bridge.journal.segment import HEADER_SIZE, JOURNAL_DTYPE, body_count, list_segments
from core_bridge.protocol import EVENT_DTYPE
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.encode import date_int, et_date_int
from reports.cat.partition import PartitionResult, Plan, build_partition, partition_of, plan_day

_HOUR_NS = 3_600_000_000_000
Span = tuple[str, int, int]  # (file, first record, end record) of one segment (or .npy slice)


@dataclass(frozen=True)
class DaySource:
    """The day's events: `kind` "journal" (path = journal folder) or "npy" (path = an EVENT_DTYPE .npy)."""

    kind: str
    path: str
    day: str

    def spans(self, npy_span: int) -> list[Span]:
        """Every segment as (file, 0, records), sized from the file; a .npy cut into `npy_span` slices."""
        if self.kind == "npy":
            n = len(_load_npy(self.path))
            return [(self.path, i, min(i + npy_span, n)) for i in range(0, n, max(1, npy_span))]
        if self.kind != "journal":
            raise ValueError(f"unknown CAT event source {self.kind!r} (journal | npy)")
        out = []
        for _index, _epoch, _first, sealed, path in list_segments(Path(self.path)):
            out.append((str(path), 0, body_count(path.stat().st_size, sealed, path)))
        return out

    def mapped(self, span: Span) -> np.ndarray:
        """A span's records memory-mapped, unchecked (the plan reads three columns of them)."""
        file, a, b = span
        if self.kind == "npy":
            return _load_npy(file)[a:b]
        file = _current(file)
        return np.memmap(file, dtype=JOURNAL_DTYPE, mode="r", offset=HEADER_SIZE, shape=(b,))["rec"][a:]

    def checked(self, span: Span) -> np.ndarray:
        """A span's records, every CRC and sequence checked (JournalCorruptError names file and record)."""
        file, a, b = span
        if self.kind == "npy":
            return np.array(_load_npy(file)[a:b])
        recs = read_segment(_current(file))
        if len(recs) < b:
            raise ValueError(f"{file}: {len(recs)} good records, the plan counted {b}")
        return recs[a:b]

    def day_mask(self, recs: np.ndarray) -> np.ndarray | None:
        """Which records are on the day (New York date), or None when all of them are."""
        want = date_int(dt.date.fromisoformat(self.day))
        hours = recs["ts_ns"] // _HOUR_NS
        uniq = np.unique(hours).tolist()
        keep = [h for h in uniq if et_date_int(h * _HOUR_NS) == want]
        return None if len(keep) == len(uniq) else np.isin(hours, keep)


def _current(file: str) -> str:
    """An active segment the capture sealed since the plan listed it has the same records under .seg."""
    if not Path(file).exists() and file.endswith(".open"):
        return file[: -len(".open")] + ".seg"
    return file


def _load_npy(path: str) -> np.ndarray:
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.dtype != EVENT_DTYPE:
        raise ValueError(f"{path}: dtype {arr.dtype} is not EVENT_DTYPE")
    return arr  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PartitionJob:
    """Everything one split or build task needs, small enough to ship to a worker. `part` is the journal
    range for a split and the partition for a build."""

    source: DaySource
    work: str
    part: int
    cfg: CatConfig
    now_ns: int
    strict: bool = False


def write_plan(source: DaySource, partition_events: int, work: Path) -> tuple[Plan, int, int]:
    """Plan the day and save it in `work`: (plan, events, journal ranges). Ranges are runs of whole spans
    of about `partition_events` events; how the journal is cut into ranges never shows in the output."""
    spans = source.spans(partition_events)

    def day_batches() -> Iterator[np.ndarray]:
        for span in spans:
            recs = source.mapped(span)
            mask = source.day_mask(recs)
            yield recs if mask is None else recs[mask]

    # the journal's segments carry gapless, CRC-checked sequences per epoch: (epoch, seq) cannot repeat there
    plan, n = plan_day(day_batches(), partition_events, unique_positions=source.kind == "journal")
    ranges: list[list[Span]] = []
    size = 0
    for span in spans:
        if not ranges or size >= partition_events:
            ranges.append([])
            size = 0
        ranges[-1].append(span)
        size += span[2] - span[1]
    work.mkdir(parents=True, exist_ok=True)
    plan.save(work / "plan.npz")
    (work / "ranges.json").write_text(json.dumps(ranges))
    return plan, n, len(ranges)


def split_range(job: PartitionJob) -> int:
    """Read journal range `job.part` (checked), write its day's events grouped by partition; returns count."""
    work = Path(job.work)
    plan = Plan.load(work / "plan.npz")
    spans = json.loads((work / "ranges.json").read_text())[job.part]
    kept = []
    for file, a, b in spans:
        recs = job.source.checked((file, a, b))
        mask = job.source.day_mask(recs)
        kept.append(recs if mask is None else recs[mask])
    events = np.concatenate(kept) if kept else np.zeros(0, EVENT_DTYPE)
    part = partition_of(events, plan)
    order = np.argsort(part, kind="stable")
    offsets = np.searchsorted(part[order], np.arange(plan.n_parts + 1))
    _save(work / f"range{job.part:05d}.npy", events[order])
    _save(work / f"range{job.part:05d}.offsets.npy", offsets)
    return len(events)


def _save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)  # a retried task rewrites the same file, never a half one


def partition_events_of(work: Path, n_ranges: int, part: int) -> np.ndarray:
    """Partition `part`'s events: its slice of every range file, in range (= journal) order."""
    keep = []
    for r in range(n_ranges):
        offsets = np.load(work / f"range{r:05d}.offsets.npy")
        mm = np.load(work / f"range{r:05d}.npy", mmap_mode="r")
        keep.append(np.array(mm[offsets[part]:offsets[part + 1]]))
    return np.concatenate(keep) if keep else np.zeros(0, EVENT_DTYPE)


def run_partition(job: PartitionJob) -> PartitionResult:
    work = Path(job.work)
    n_ranges = len(json.loads((work / "ranges.json").read_text()))
    events = partition_events_of(work, n_ranges, job.part)
    res = build_partition(events, ACCOUNTS_BY_ID, job.cfg, job.part, work / "out", now_ns=job.now_ns,
                          strict=job.strict)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res.peak_rss_kb = rss // 1024 if sys.platform == "darwin" else rss
    res.worker = f"{socket.gethostname()}:{os.getpid()}"
    return res


@dataclass(frozen=True)
class CatScale:
    """How the CAT build spreads out (settings `cat.*`, env `COLO_OPS_CAT_*`).

    partition_events   events per partition; with `cat.max_file_bytes` it fixes the file layout of a day, so
                       keep it fixed for a date (default 500,000)
    dask_address       a running Dask scheduler (`tcp://host:8786`) for a multi-host cluster; unset: a
                       LocalCluster on this machine
    dask_workers       LocalCluster worker processes (default: every core)
    dask_memory_limit  per worker; Dask restarts a worker above it and the partition is retried (default 2GiB)
    dask_min_events    below this many events the day is built in this process, partition by partition:
                       a cluster costs more than it saves (measured by bench/bench_cat_scale.py)
    """

    partition_events: int = 500_000
    dask_address: str = ""
    dask_workers: int = 0
    dask_memory_limit: str = "2GiB"
    dask_min_events: int = 400_000

    @classmethod
    def from_settings(cls, settings: Any) -> CatScale:
        d = cls()
        return cls(int(settings.get("cat.partition_events", d.partition_events)),
                   str(settings.get("cat.dask_address", d.dask_address) or ""),
                   int(settings.get("cat.dask_workers", d.dask_workers)) or (os.cpu_count() or 1),
                   str(settings.get("cat.dask_memory_limit", d.dask_memory_limit)),
                   int(settings.get("cat.dask_min_events", d.dask_min_events)))

    def use_cluster(self, n_events: int, n_parts: int) -> bool:
        return n_parts > 1 and n_events >= self.dask_min_events
