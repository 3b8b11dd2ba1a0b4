"""Are two days' outputs the same? The chaos run's check against a same-seed day without faults.

What is compared, and why each exclusion:
- journal: every order-lifecycle record (ORDER_NEW .. ORDER_EXPIRED, REPLACE_REJECTED) byte for byte, with
  the REPLAY flag masked (a record the capture got by rewind after its own restart is the same event).
  Control and HA records (kill, limits, role changes) are stamped when they happen, and a kill -9 of a core
  node *causes* role changes and a new epoch: they are counted on each side, not compared;
- store: the rows of the day's tables, without surrogate keys and load times (`VOLATILE_COLUMNS`), which
  say when a row was written, not what it holds;
- files: every file under the day's CAT and recon report folders and the CAT twin's received files, by
  SHA-256 (the CAT files byte-identical); reports that print a run time are listed in `VOLATILE_FILES`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.journal.reader import iter_records
from core_bridge.protocol import EventFlag, EventType

TRADING_ETYPES = tuple(int(e) for e in EventType if e.name.startswith(("ORDER_", "ROUTE_", "REPLACE_")))
VOLATILE_COLUMNS = frozenset({"id", "run_id", "loaded_at", "created_at", "updated_at", "ingested_at", "fetched_at",
                              "received_at", "submitted_at", "started_at", "finished_at", "ended_at", "at",
                              "recorded_at", "load_id", "ingested_file_id", "file_id", "generated_at",
                              "received_ns"})  # fix_executions: when the FIX message arrived, not what it says
VOLATILE_FILES: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Difference:
    what: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def journal_records(journal_dir: Path) -> tuple[np.ndarray, dict[str, int]]:
    """The journal's trading records (REPLAY masked) and a count of the other records by type."""
    parts = list(iter_records(journal_dir))
    if not parts:
        return np.zeros(0, dtype=np.uint8), {}
    recs = np.concatenate(parts)
    trading = recs[np.isin(recs["etype"], TRADING_ETYPES)].copy()
    trading["flags"] &= np.uint8(0xFF ^ int(EventFlag.REPLAY))
    other = recs[~np.isin(recs["etype"], TRADING_ETYPES)]
    counts = {EventType(int(t)).name: int(n) for t, n in zip(*np.unique(other["etype"], return_counts=True),
                                                              strict=True)}
    return trading, counts


def compare_journals(a: Path, b: Path) -> tuple[list[Difference], dict[str, Any]]:
    ra, ca = journal_records(a)
    rb, cb = journal_records(b)
    facts = {"trading_records": [len(ra), len(rb)], "other_records": [ca, cb]}
    if len(ra) != len(rb):
        return [Difference("journal", f"{len(ra)} trading records without faults, {len(rb)} with")], facts
    bad = np.flatnonzero(ra.view(np.uint8).reshape(len(ra), -1) != rb.view(np.uint8).reshape(len(rb), -1))
    if len(bad):
        i = int(bad[0]) // ra.dtype.itemsize
        return [Difference("journal", f"{len(bad)} differing bytes; first at record {i} (seq {int(ra['seq'][i])} "
                                      f"vs {int(rb['seq'][i])})")], facts
    return [], facts


def digests(roots: Iterable[Path]) -> dict[str, str]:
    """relative path (under each root's own name) -> SHA-256 of every file."""
    out = {}
    for root in roots:
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            # A dot-folder is a flow's scratch space (cat's .work/run-<uuid>), not an output.
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
                out[f"{root.name}/{p.relative_to(root)}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def compare_digests(a: Mapping[str, str], b: Mapping[str, str], what: str = "files") -> list[Difference]:
    out = []
    for name in sorted(set(a) | set(b)):
        if name.rsplit("/", 1)[-1] in VOLATILE_FILES:
            continue
        if name not in b:
            out.append(Difference(what, f"{name}: only in the run without faults"))
        elif name not in a:
            out.append(Difference(what, f"{name}: only in the run with faults"))
        elif a[name] != b[name]:
            out.append(Difference(what, f"{name}: contents differ"))
    return out


def stable_rows(rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows without their volatile columns, as sorted tuples (the order rows were written in does not count)."""
    out = [tuple(sorted((k, repr(v)) for k, v in r.items() if k not in VOLATILE_COLUMNS)) for r in rows]
    return sorted(out)


def compare_tables(a: Mapping[str, list[Mapping[str, Any]]], b: Mapping[str, list[Mapping[str, Any]]]
                   ) -> list[Difference]:
    out = []
    for table in sorted(set(a) | set(b)):
        sa, sb = stable_rows(a.get(table, [])), stable_rows(b.get(table, []))
        if sa != sb:
            only_a = len(set(sa) - set(sb))
            only_b = len(set(sb) - set(sa))
            example = next(iter(sorted(set(sa) ^ set(sb))), ())
            out.append(Difference("store", f"{table}: {len(sa)} vs {len(sb)} rows, {only_a} only without faults, "
                                           f"{only_b} only with; e.g. {dict(example)}"[:600]))
    return out
