"""The partitioned CAT build (reports.cat.partition, flows.cat.partitions), in one process: order chains stay
whole, one partition is the single-process build byte for byte, the layout depends on the day and not on who
builds it, and a rule spanning partitions still refuses the day."""

from __future__ import annotations

import bz2
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from core_bridge.protocol import EventType, Venue
from flows.cat.partitions import DaySource, PartitionJob, run_partition, split_range, write_plan
from hw.cat_twin.lifecycles import DayScript, mixed_day
from hw.refdata import ACCOUNTS_BY_ID
from reports.cat.config import CatConfig
from reports.cat.day import seal_day
from reports.cat.encode import date_int
from reports.cat.partition import (
    PartitionResult,
    Plan,
    build_partition,
    chain_map,
    chains_of,
    commit_partitions,
    partition_of,
    plan_day,
)
from reports.errors import CatValidationError

DAY = dt.date(2026, 11, 20)
NOW = 2_000_000_000_000_000_000
CFG = CatConfig(max_file_bytes=20_000)


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def _seal_partitioned(events: np.ndarray, partition_events: int, out: Path) -> tuple[list[PartitionResult], Path]:
    npy = out / "day.npy"
    out.mkdir(parents=True)
    np.save(npy, events)
    source, work = DaySource("npy", str(npy), DAY.isoformat()), out / "work"
    plan, _, n_ranges = write_plan(source, partition_events, work)
    for r in range(n_ranges):
        split_range(PartitionJob(source, str(work), r, CFG, NOW))
    results = [run_partition(PartitionJob(source, str(work), p, CFG, NOW)) for p in range(plan.n_parts)]
    commit_partitions(results, CFG, date_int(DAY), out / "cat")
    return results, out / "cat"


def test_chain_map_when_replaces_chain_and_merge_then_one_smallest_representative() -> None:
    new = np.array([11, 12, 30, 12], dtype=np.uint64)  # 10 -> 11 -> 12, and 12 also replaced 30
    old = np.array([10, 11, 12, 30], dtype=np.uint64)
    ids, reps = chain_map(new, old)
    assert ids.tolist() == [10, 11, 12, 30] and reps.tolist() == [10, 10, 10, 10]


def test_plan_when_order_replaced_then_every_event_of_the_chain_in_one_partition() -> None:
    ev = mixed_day(DAY, 40)
    plan, n = plan_day(iter([ev[:500], ev[500:]]), 200)
    assert n == len(ev) and plan.n_parts == 7
    part = partition_of(ev, plan)
    assert len(set(part.tolist())) == plan.n_parts  # every partition has work
    rep = ev["etype"] == EventType.ORDER_REPLACED
    for oid, orig in zip(ev["order_id"][rep].tolist(), ev["orig_order_id"][rep].tolist(), strict=True):
        assert len(set(part[(ev["order_id"] == oid) | (ev["order_id"] == orig)].tolist())) == 1


def test_plan_when_epoch_seq_repeats_then_single_partition() -> None:
    ev = mixed_day(DAY, 20)
    plan, _ = plan_day(iter([np.concatenate([ev, ev[:1]])]), 100)
    assert plan.n_parts == 1


def test_partitioned_when_one_partition_then_byte_identical_to_single_process(tmp_path: Path) -> None:
    ev = mixed_day(DAY, 20)
    seal_day(ev, ACCOUNTS_BY_ID, CFG, DAY, tmp_path / "single", now_ns=NOW, workers=1)
    results, cat_dir = _seal_partitioned(ev, 10**9, tmp_path / "parts")
    assert len(results) == 1 and files(cat_dir) == files(tmp_path / "single")


def test_partitioned_when_many_partitions_then_same_records_and_repeatable(tmp_path: Path) -> None:
    ev = mixed_day(DAY, 30)
    seal_day(ev, ACCOUNTS_BY_ID, CFG, DAY, tmp_path / "single", now_ns=NOW, workers=1)
    results, cat_dir = _seal_partitioned(ev, 150, tmp_path / "a")
    _, again = _seal_partitioned(ev, 150, tmp_path / "b")
    assert len(results) == 7 and files(cat_dir) == files(again)

    def lines(d: Path) -> list[bytes]:
        return sorted(x for n, b in files(d).items() if n.endswith(".bz2") for x in bz2.decompress(b).split(b"\n") if x)

    assert lines(cat_dir) == lines(tmp_path / "single")
    assert not list((tmp_path / "a" / "work" / "out").glob("*.partial"))  # partials moved into place


def test_commit_when_route_key_repeats_across_partitions_then_refused_and_nothing_sealed(tmp_path: Path) -> None:
    s = DayScript(DAY)
    oids = [s.new("AAPL") for _ in range(12)]
    for oid in oids:
        s.route(oid, Venue.NSDQ)
    ev = s.events()
    ev["routed_id"][ev["etype"] == EventType.ORDER_ROUTED] = 777  # one routedOrderID for every route
    plan = Plan(3, np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    part = partition_of(ev, plan)
    results = [build_partition(ev[part == p], ACCOUNTS_BY_ID, CFG, p, tmp_path / "work", now_ns=NOW)
               for p in range(3)]
    with pytest.raises(CatValidationError) as exc:
        commit_partitions(results, CFG, date_int(DAY), tmp_path / "cat")
    rules = [(f.rule, "another partition" in f.message) for f in exc.value.findings]
    assert ("route_linkage_unique", True) in rules and ("route_linkage_unique", False) in rules
    assert not [p for p in (tmp_path / "cat").iterdir() if p.is_file()]
    assert not list((tmp_path / "work").glob("*.partial"))


def test_chains_of_when_repairing_few_events_then_their_records_as_in_the_whole_day_build() -> None:
    from reports.cat.events import build_records

    ev = mixed_day(DAY, 30)
    whole = {r["firmROEID"]: r for r in build_records(ev, ACCOUNTS_BY_ID, CFG)}
    rep = ev[ev["etype"] == EventType.ORDER_REPLACED][3]  # a replaced order: its chain spans two order ids
    wanted = [k for k in whole if k.startswith(f"20261120_{rep['epoch']}.{rep['seq']}.")] + [sorted(whole)[7]]
    chains = chains_of(ev, wanted)
    assert 0 < len(chains) < len(ev) // 10
    rebuilt = {r["firmROEID"]: r for r in build_records(chains, ACCOUNTS_BY_ID, CFG)}
    assert all(rebuilt[k] == whole[k] for k in wanted)
