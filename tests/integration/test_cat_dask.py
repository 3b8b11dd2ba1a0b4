"""The `cat` flow on a real Dask cluster (prefect-dask's DaskTaskRunner, real Prefect): the same small day,
read from a real journal, seals byte-identical files whatever the number of workers, and a worker killed
mid-build costs a retry, not a different file."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from core_bridge.journal.writer import Journal
from hw.cat_twin.lifecycles import mixed_day
from tests.fixtures.dask_cluster import scale_to
from tests.polling import wait_for

DAY = dt.date(2026, 11, 20)


def _journal(path: Path, repeats: int) -> Path:
    with Journal.open(path, segment_bytes=64 * 1024) as j:  # small segments: a day spans many of them
        j.append(mixed_day(DAY, repeats))
        j.close(seal=True)
    return path


def _digest(cat_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cat_dir.iterdir()) if p.is_file()}


def _run(home: Path, journal: Path, monkeypatch: pytest.MonkeyPatch, address: str | None) -> dict[str, Any]:
    from flows.jobs.cat import cat

    home.mkdir(parents=True)
    monkeypatch.setenv("COLO_OPS_HOME", str(home))
    monkeypatch.setenv("COLO_OPS_JOURNAL_DIR", str(journal))
    monkeypatch.setenv("COLO_OPS_CAT_PARTITION_EVENTS", "700")
    monkeypatch.setenv("COLO_OPS_CAT_MAX_FILE_BYTES", "30000")
    if address is None:  # the single-process path: the day is "too small" for the cluster
        monkeypatch.delenv("COLO_OPS_CAT_DASK_ADDRESS", raising=False)
        monkeypatch.setenv("COLO_OPS_CAT_DASK_MIN_EVENTS", str(10**12))
    else:
        monkeypatch.setenv("COLO_OPS_CAT_DASK_ADDRESS", address)
        monkeypatch.setenv("COLO_OPS_CAT_DASK_MIN_EVENTS", "0")
    out = cat(date=DAY.isoformat(), submit=False)
    assert out["files"] and not out["already_sealed"]
    return out


def _worker_pids(client: Any) -> set[str]:
    return {f"{os.uname().nodename}:{pid}" for pid in client.run(os.getpid).values()}


@pytest.fixture(scope="module")
def day_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """A small day in a real journal, and the single-process build's files (name -> SHA-256) and result."""
    tmp = tmp_path_factory.mktemp("cat-dask")
    journal = _journal(tmp / "journal", 60)
    with pytest.MonkeyPatch.context() as mp:
        local = _run(tmp / "local", journal, mp, None)
    return journal, _digest(tmp / "local" / "reports" / DAY.isoformat() / "cat"), local


@pytest.mark.slow
def test_cat_when_built_on_1_2_3_dask_workers_then_files_byte_identical_to_single_process(
    prefect_harness: None, dask_cluster: Any, dask_client: Any, day_journal: tuple[Path, dict[str, str], Any],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, expected, local = day_journal
    assert local["build"]["where"] == "in this process" and local["build"]["partitions"] == 3
    assert local["build"]["ranges"] >= 2  # the split stage read the journal in more than one range
    assert len(expected) == len(local["files"]) + len(local["metas"]) > 4  # several files from every partition
    for n in (3, 2, 1):
        scale_to(dask_cluster, dask_client, n)
        pids = _worker_pids(dask_client)
        out = _run(tmp_path / f"w{n}", journal, monkeypatch, dask_cluster.scheduler_address)
        assert out["build"]["where"].startswith("on Dask") and set(out["build"]["workers"]) <= pids
        assert _digest(tmp_path / f"w{n}" / "reports" / DAY.isoformat() / "cat") == expected, f"{n} workers"
        assert out["counts"] == local["counts"]


@pytest.mark.slow
def test_cat_when_a_dask_worker_is_killed_mid_build_then_retried_and_files_identical(
    prefect_harness: None, dask_cluster: Any, dask_client: Any, day_journal: tuple[Path, dict[str, str], Any],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, expected, _ = day_journal
    scale_to(dask_cluster, dask_client, 2)
    pid_of = dask_client.run(os.getpid)
    result: dict[str, Any] = {}

    def build() -> None:
        try:
            result["out"] = _run(tmp_path / "killed", journal, monkeypatch, dask_cluster.scheduler_address)
        except BaseException as exc:  # handed to the test thread
            result["error"] = exc

    runner = threading.Thread(target=build)
    runner.start()
    busy: list[str] = []

    def a_worker_is_building() -> bool:
        busy[:] = [w for w, keys in dask_client.processing().items() if keys and w in pid_of]
        return bool(busy) or not runner.is_alive()

    wait_for(a_worker_is_building, timeout=300, what="a partition running on a Dask worker")
    assert busy, "the build ended before any partition was seen running"
    victim = f"{os.uname().nodename}:{pid_of[busy[0]]}"
    os.kill(pid_of[busy[0]], signal.SIGKILL)
    runner.join(timeout=600)
    assert not runner.is_alive() and "error" not in result, result.get("error")
    assert _digest(tmp_path / "killed" / "reports" / DAY.isoformat() / "cat") == expected
    wait_for(lambda: len(dask_client.scheduler_info(n_workers=-1)["workers"]) == 2, timeout=300,
             what="the nanny to restart the killed worker")
    assert victim not in _worker_pids(dask_client)
