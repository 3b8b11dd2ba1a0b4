"""What one capture is pointed at and how it is tuned (`CaptureConfig`), and what it counts (`CaptureStats`).

Why apart from the service: the HA flows, the end-of-day flow and the tests build configs (and read the
counters from capture.json) without starting a capture. Endpoints resolve by the same precedence as
corectl, so a capture and an on-call person talk to the same core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core_bridge.journal.writer import DEFAULT_COMMIT_MS, DEFAULT_COMMIT_RECORDS, DEFAULT_SEGMENT_BYTES


@dataclass
class CaptureConfig:
    journal_dir: Path
    keys_dir: Path
    dropcopy_endpoint: str
    rewind_endpoint: str
    control_endpoint: str | None = None  # for `hello` (the core's current epoch) when the stream is quiet
    identity: str = "capture"
    status_path: Path | None = None
    positions_path: Path | None = None
    sub_hwm: int = 0  # messages; 0 = libzmq default (1000). Tests set it tiny to force drops.
    rewind_timeout_ms: int = 2_000
    idle_probe_ms: int = 300  # first idle probe after the stream goes quiet
    idle_probe_max_ms: int = 5_000  # while probes find nothing new, the wait doubles up to this
    rewind_backoff_ms: int = 300  # wait after a failed rewind; doubles per consecutive failure...
    rewind_backoff_max_ms: int = 30_000  # ...up to this
    rewind_escalate_after: int = 6  # consecutive failures before the capture escalates (ERROR log, status)
    status_interval_s: float = 1.0
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    commit_records: int = DEFAULT_COMMIT_RECORDS
    commit_ms: float = DEFAULT_COMMIT_MS
    background_io: bool = True  # overlap the group commit's fdatasync with receiving the next batches
    rebuild_positions: bool = True  # fold the journal's fills into the view at start
    # The other node of an HA pair: {"dropcopy", "rewind", "control", "telemetry"} endpoints (empty: a single core).
    standby_endpoints: dict[str, str] = field(default_factory=dict)
    # The clock-sync log (core_bridge/clocksync.py): heartbeats from here into this directory; None: not kept.
    telemetry_endpoint: str | None = None
    clock_log_dir: Path | None = None

    def endpoints_for(self, socket: str) -> list[str]:
        """This socket's endpoints, primary first, then the standby's (if configured)."""
        main = {"dropcopy": self.dropcopy_endpoint, "rewind": self.rewind_endpoint,
                "control": self.control_endpoint, "telemetry": self.telemetry_endpoint}[socket]
        out = [main] if main else []
        alt = self.standby_endpoints.get(socket)
        return out + ([alt] if alt and alt not in out else [])

    @classmethod
    def from_home(cls, home: str | Path | None = None, node: str = "primary", **overrides: Any) -> CaptureConfig:
        """Endpoints by the same precedence as corectl: an explicit setting (COLO_OPS_CORE_<NODE>_<SOCKET>),
        then a locally started twin's <home>/run/twin-<node>.json, then the default ports."""
        from core_bridge.settings import load_settings

        s = load_settings(home)
        try:
            local = orjson.loads((s.run_dir / f"twin-{node}.json").read_bytes()).get("endpoints") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            local = {}

        def endpoint(socket: str) -> str:
            explicit = s.get(f"core.{node}.{socket}")
            return str(explicit or local.get(socket) or s.core_endpoint(socket, node))

        try:
            standby_local = orjson.loads((s.run_dir / "twin-standby.json").read_bytes()).get("endpoints") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            standby_local = {}
        standby: dict[str, str] = {}
        if node == "primary":
            for sock_name in ("dropcopy", "rewind", "control", "telemetry"):
                ep = s.get(f"core.standby.{sock_name}") or standby_local.get(sock_name)
                if ep:
                    standby[sock_name] = str(ep)
        cfg = cls(
            journal_dir=s.journal_dir,
            keys_dir=s.keys_dir,
            dropcopy_endpoint=endpoint("dropcopy"),
            rewind_endpoint=endpoint("rewind"),
            control_endpoint=endpoint("control"),
            status_path=s.run_dir / "capture.json",
            positions_path=s.run_dir / "positions.json",
            standby_endpoints=standby,
            telemetry_endpoint=endpoint("telemetry"),
            clock_log_dir=s.home / "clocksync",
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


@dataclass
class CaptureStats:
    live_batches: int = 0
    live_events: int = 0
    appended: int = 0
    duplicates: int = 0
    stale: int = 0
    malformed: int = 0
    gaps: int = 0
    rewinds: int = 0
    rewound_events: int = 0
    rewind_failures: int = 0
    epoch_changes: int = 0
    unrecoverable: int = 0  # records the core could no longer rewind (e.g. an old epoch it forgot)
    max_live: tuple[int, int] = (0, 0)  # highest (epoch, seq) seen live
    core_last: tuple[int, int] = (0, 0)  # highest (epoch, last_seq) the rewind endpoint reported
    last_error: str = ""
