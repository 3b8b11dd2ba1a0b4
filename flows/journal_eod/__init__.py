"""End of day for the journal: close gaps against the core, seal, verify, load into the ops store.

Plain functions; flows/jobs/eod_capture.py wires them. Fail closed: if the journal cannot be brought level with
the core's last sequence before the deadline, the run fails rather than sealing a short day.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_bridge.settings import Settings

CAPTURE_STALE_S = 5.0


@dataclass
class EodResult:
    core_epoch: int
    core_last_seq: int
    journal_durable: tuple[int, int]
    caught_up_by: str  # "running-capture" | "in-process-capture"
    sealed_segment: str | None
    verify: dict[str, Any] = field(default_factory=dict)
    loaded_rows: int = 0
    loaded_segments: int = 0
    skipped_segments: int = 0


def core_position(settings: Settings) -> tuple[int, int]:
    """(epoch, last_seq) the active core reports; raises if it does not answer (never guessed)."""
    from core_bridge.client.commands import CoreClient

    with CoreClient.from_settings(identity="monitor", operator="eod-capture", settings=settings) as c:
        st = c.status().result
    return int(st["epoch"]), int(st["last_seq"])


def running_capture(settings: Settings) -> dict[str, Any] | None:
    """The capture's status file if a live capture wrote it recently and its pid exists."""
    path = settings.run_dir / "capture.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if time.time_ns() - int(doc.get("updated_ns", 0)) > CAPTURE_STALE_S * 1e9:
        return None
    try:
        os.kill(int(doc["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    return dict(doc)


def _durable(doc: dict[str, Any]) -> tuple[int, int]:
    d = doc.get("durable") or {}
    return int(d.get("epoch", 0)), int(d.get("seq", 0))


def catch_up(settings: Settings, target: tuple[int, int], deadline_s: float = 60.0) -> tuple[str, tuple[int, int]]:
    """Make the journal durable up to `target`: wait for the running capture, or run one here."""
    deadline = time.monotonic() + deadline_s
    doc = running_capture(settings)
    if doc is not None:
        while time.monotonic() < deadline:
            doc = running_capture(settings) or doc
            if _durable(doc) >= target:
                return "running-capture", _durable(doc)
            time.sleep(0.1)
        raise TimeoutError(f"capture durable at {_durable(doc)}, core at {target} after {deadline_s:.0f} s")

    from core_bridge.dropcopy.config import CaptureConfig
    from core_bridge.dropcopy.service import CaptureService

    svc = CaptureService(CaptureConfig.from_home(settings.home))
    stop = threading.Event()
    result: dict[str, Any] = {}

    def _run() -> None:
        try:
            result["stats"] = svc.run(stop)
        except BaseException as exc:  # noqa: BLE001 - surfaced to the caller below
            result["error"] = exc

    t = threading.Thread(target=_run, name="eod-capture", daemon=True)
    t.start()
    reached: tuple[int, int] = (0, 0)
    try:
        while time.monotonic() < deadline and t.is_alive():
            j = svc.journal
            if j is not None:
                reached = tuple(j.durable)  # type: ignore[assignment]
                if reached >= target:
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        t.join(timeout=30)
    if "error" in result:
        raise RuntimeError(f"in-process capture failed: {result['error']}") from result["error"]
    if reached < target:
        raise TimeoutError(f"journal durable at {reached}, core at {target} after {deadline_s:.0f} s")
    return "in-process-capture", reached


def seal_verify_load(settings: Settings, engine: Any,
                     load: Callable[[Any, Path], Any] | None = None) -> tuple[str | None, dict[str, Any], Any]:
    """Seal and verify the journal, then load it with `load(engine, journal_dir)` (default: in this process,
    segment by segment; the flow passes a loader that spreads a big day over Dask)."""
    from core_bridge.journal.seal import seal_journal
    from core_bridge.journal.verify import verify
    from flows.store.loader import load_sealed_segments

    seg = seal_journal(settings.journal_dir)
    report = verify(settings.journal_dir)
    if not report.ok:
        first = report.first_problem
        raise RuntimeError(f"journal verification failed: {first}")
    loaded = (load or load_sealed_segments)(engine, settings.journal_dir)
    return (str(Path(seg.path).name) if seg is not None else None), report.to_dict(), loaded


def run_eod(settings: Settings, engine: Any, deadline_s: float = 60.0,
            load: Callable[[Any, Path], Any] | None = None) -> EodResult:
    epoch, last = core_position(settings)
    how, durable = catch_up(settings, (epoch, last), deadline_s) if last > 0 else ("nothing-to-capture", (epoch, 0))
    sealed, ver, loaded = seal_verify_load(settings, engine, load)
    return EodResult(
        core_epoch=epoch,
        core_last_seq=last,
        journal_durable=durable,
        caught_up_by=how,
        sealed_segment=sealed,
        verify={k: ver[k] for k in ("ok", "segments", "sealed", "records", "last")},
        loaded_rows=loaded.rows,
        loaded_segments=loaded.segments,
        skipped_segments=loaded.skipped,
    )
