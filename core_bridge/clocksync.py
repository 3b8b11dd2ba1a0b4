"""The clock-sync log: the core's clock offset from its time source, kept as a record (FINRA 4590, CAT 6.8).

The capture process runs a `ClockRecorder` next to the drop-copy capture: it subscribes to the core's
heartbeats (10 a second), folds them into one-second windows of the event clock and appends one line per
window to `<home>/clocksync/clocksync_<YYYY-MM-DD>.csv` (New York date of the window), fsync'ed:

    time_utc,time_ns,node,source,offset_ns,max_abs_offset_ns,samples

`offset_ns` is the window's last reading (signed), `max_abs_offset_ns` the largest magnitude in the window.
A heartbeat without `clock_offset_ns` makes the window's offset empty: unknown, never zero. The file is the
retained record (flows/archive collects it); the clock report and the pre-open check read it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core_bridge.dropcopy.backoff import RewindBackoff
from core_bridge.errors import ClockLogError

log = logging.getLogger(__name__)
NY = ZoneInfo("America/New_York")
WINDOW_NS = 1_000_000_000
COLUMNS = ("time_utc", "time_ns", "node", "source", "offset_ns", "max_abs_offset_ns", "samples")
DIRNAME = "clocksync"


@dataclass(frozen=True)
class ClockSample:
    time_ns: int  # start of the window, on the core's event clock
    node: str
    source: str
    offset_ns: int | None  # None: the core gave no reading in this window
    max_abs_offset_ns: int | None
    samples: int

    def line(self) -> list[str]:
        t = dt.datetime.fromtimestamp(self.time_ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return [t, str(self.time_ns), self.node, self.source, _opt(self.offset_ns), _opt(self.max_abs_offset_ns),
                str(self.samples)]


def _opt(v: int | None) -> str:
    return "" if v is None else str(v)


@dataclass(frozen=True)
class ClockTolerances:
    """How far the core clock may be from its source. `cat_ns`: CAT's 50 ms to NIST for business clocks
    (CAT NMS Plan 6.8; ../shared/domain/cat.md); `house_ns`: the firm's own, tighter tolerance (a PTP-disciplined
    core holds tens of microseconds). Settings `clock.cat_tolerance_ns` and `clock.house_tolerance_ns`; the
    alert rules in infra/prometheus/alerts.yml use the defaults (a test keeps them in step)."""

    cat_ns: int = 50_000_000
    house_ns: int = 100_000

    @classmethod
    def from_settings(cls, settings: Any) -> ClockTolerances:
        d = cls()
        out = cls(int(settings.get("clock.cat_tolerance_ns", d.cat_ns)),
                  int(settings.get("clock.house_tolerance_ns", d.house_ns)))
        if not 0 < out.house_ns <= out.cat_ns:
            from core_bridge.errors import ConfigError

            raise ConfigError(f"clock tolerances: need 0 < clock.house_tolerance_ns ({out.house_ns}) <= "
                              f"clock.cat_tolerance_ns ({out.cat_ns})")
        return out


def log_path(directory: Path, date: dt.date | str) -> Path:
    return directory / f"clocksync_{date if isinstance(date, str) else date.isoformat()}.csv"


def ny_date(time_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(time_ns / 1e9, NY).date()


class ClockWindows:
    """Folds heartbeats into one-second windows; `add` returns the window it closed, if any."""

    def __init__(self) -> None:
        self._start: int | None = None
        self._node = self._source = ""
        self._last: int | None = None
        self._max: int | None = None
        self._n = 0

    def add(self, hb: Mapping[str, Any]) -> ClockSample | None:
        t = hb.get("event_time_ns", hb.get("core_time_ns"))
        if not isinstance(t, int) or isinstance(t, bool):
            return None
        start = t - t % WINDOW_NS
        closed = self.flush() if self._start is not None and start != self._start else None
        if self._start is None:
            self._start, self._node, self._source = start, str(hb.get("node", "")), str(hb.get("clock_source", ""))
        off = hb.get("clock_offset_ns")
        self._n += 1
        if isinstance(off, int) and not isinstance(off, bool):
            self._last = off
            self._max = abs(off) if self._max is None else max(self._max, abs(off))
        return closed

    def flush(self) -> ClockSample | None:
        if self._start is None:
            return None
        out = ClockSample(self._start, self._node, self._source or "unknown", self._last, self._max, self._n)
        self._start, self._last, self._max, self._n = None, None, None, 0
        return out


def append_samples(directory: Path, samples: Iterable[ClockSample]) -> None:
    """Append each sample to its date's file (header on a new file), fsync'ed: the log is a record."""
    by_path: dict[Path, list[ClockSample]] = {}
    for s in samples:
        by_path.setdefault(log_path(directory, ny_date(s.time_ns)), []).append(s)
    directory.mkdir(parents=True, exist_ok=True)
    for path, rows in by_path.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if not path.exists() or path.stat().st_size == 0:
            w.writerow(COLUMNS)
        for s in rows:
            w.writerow(s.line())
        with path.open("a", encoding="ascii") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())


def _int_field(path: Path, n: int, row: Mapping[str, str], name: str, *, optional: bool = False) -> int | None:
    raw = (row.get(name) or "").strip()
    if not raw and optional:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ClockLogError(path, n, f"field {name}: {raw!r} is not an integer") from None


def read_clock_log(path: Path) -> list[ClockSample]:
    """The file's samples, in time order, one per window (a window logged twice, e.g. across a capture restart,
    keeps its last line). Raises ClockLogError with the line at fault."""
    with path.open(encoding="ascii", newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ClockLogError(path, 1, f"header {reader.fieldnames} is not {list(COLUMNS)}")
        out: dict[int, ClockSample] = {}
        for n, row in enumerate(reader, start=2):
            t = _int_field(path, n, row, "time_ns")
            assert t is not None
            samples = _int_field(path, n, row, "samples")
            out[t] = ClockSample(t, row["node"], row["source"], _int_field(path, n, row, "offset_ns", optional=True),
                                 _int_field(path, n, row, "max_abs_offset_ns", optional=True), samples or 0)
    return [out[t] for t in sorted(out)]


class ClockRecorder:
    """Heartbeats -> the clock-sync log, in a thread of the capture process (`start`, `stop`)."""

    def __init__(self, directory: Path, endpoints: list[str], keys_dir: Path, identity: str = "capture") -> None:
        self.directory = directory
        self.endpoints = endpoints
        self.keys_dir = keys_dir
        self.identity = identity
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.windows = ClockWindows()
        self.write_backoff = RewindBackoff(1.0, 60.0, 5, what="clock-sync log write")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="clock-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        from core_bridge.protocol import TELEMETRY_TOPIC_HEARTBEAT
        from core_bridge.telemetry import TelemetrySubscriber

        try:
            sub = TelemetrySubscriber(self.endpoints[0], self.keys_dir, self.identity,
                                      topics=(TELEMETRY_TOPIC_HEARTBEAT,))
        except Exception:  # the capture goes on; the missing log shows in the clock report and preopen-check
            log.exception("clock-sync log not kept: cannot subscribe to %s", self.endpoints[0])
            return
        for ep in self.endpoints[1:]:  # HA: only the active node's heartbeats carry on through a failover
            sub.connect(ep)
        pending: list[ClockSample] = []
        try:
            while not self._stop.is_set():
                got = sub.recv(200)
                closed = self.windows.add(got[1]) if got is not None else None
                if closed is not None:
                    pending.append(closed)
                if pending and self.write_backoff.ready():
                    pending = self._write(pending)
        finally:
            last = self.windows.flush()
            self._write(pending + ([last] if last is not None else []))
            sub.close()

    def _write(self, samples: list[ClockSample]) -> list[ClockSample]:
        """Append; on a disk error keep them for the next try (the record must not lose a window), retried with
        backoff (1 s doubling to 60 s) and escalated once, not every 200 ms with a log line each time."""
        try:
            append_samples(self.directory, samples)
        except OSError as exc:
            if self.write_backoff.consecutive == 0:
                log.error("clock-sync log %s: %s (%d window(s) kept for retry)", self.directory, exc, len(samples))
            self.write_backoff.failed(str(exc))
            return samples
        self.write_backoff.succeeded()
        return []
