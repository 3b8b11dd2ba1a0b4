"""`python -m core_bridge.dropcopy`: the capture as a plain process, for supervisors, the demo and the
benchmarks that start it without corectl (and without typer).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core_bridge.dropcopy.config import CaptureConfig
from core_bridge.dropcopy.service import run_capture


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core_bridge.dropcopy", description="drop-copy capture service")
    ap.add_argument("--home", help="COLO_OPS_HOME (default: settings)")
    ap.add_argument("--node", default="primary", help="core node whose endpoints to use (primary|standby)")
    ap.add_argument("--dropcopy", help="drop-copy PUB endpoint (default: settings)")
    ap.add_argument("--rewind", help="rewind ROUTER endpoint (default: settings)")
    ap.add_argument("--control", help="control endpoint, for hello when the stream is quiet (default: settings; "
                    "'none' disables)")
    ap.add_argument("--keys", type=Path, help="keys directory (default: <home>/keys)")
    ap.add_argument("--journal", type=Path, help="journal directory (default: <home>/journal)")
    ap.add_argument("--identity", default="capture")
    ap.add_argument("--sub-hwm", type=int, default=0)
    ap.add_argument("--segment-mb", type=float, default=None)
    ap.add_argument("--max-seconds", type=float, default=None)
    a = ap.parse_args(argv)
    cfg = CaptureConfig.from_home(
        a.home, a.node, dropcopy_endpoint=a.dropcopy, rewind_endpoint=a.rewind, control_endpoint=a.control,
        keys_dir=a.keys,
        journal_dir=a.journal, identity=a.identity, sub_hwm=a.sub_hwm or None,
        segment_bytes=int(a.segment_mb * 1024 * 1024) if a.segment_mb else None,
    )
    if a.control == "none":
        cfg.control_endpoint = None
    run_capture(cfg, max_seconds=a.max_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
