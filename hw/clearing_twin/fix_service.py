"""The clearer's drop-copy acceptor as a long-running service:
`python -m hw.clearing_twin.fix_service --home H --date YYYY-MM-DD [--seed N]`.

The day's fills come from `<home>/clearing_twin/fix/fills_YYYYMMDD.jsonl` (written by `write_fills` from the
same fills the twin's EOD files are built from, so the two agree except for the seeded faults). It advertises
where it listens in `<home>/run/clearing-fix.json`, like the SFTP twin; the file goes on a clean stop.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import threading
from collections.abc import Iterable
from pathlib import Path

from core_bridge.protocol import Side
from hw.clearing_twin.advert import advertise_until_stopped, read_advert
from hw.clearing_twin.book import Fill
from hw.clearing_twin.fault_plan import FaultConfig, build_plan
from hw.clearing_twin.fix_acceptor import DropCopyAcceptor

STATE_FILE = "clearing-fix.json"


def state_path(home: Path) -> Path:
    return home / "run" / STATE_FILE


def base_dir(home: Path) -> Path:
    return home / "clearing_twin" / "fix"


def fills_path(home: Path, day: dt.date) -> Path:
    return base_dir(home) / f"fills_{day:%Y%m%d}.jsonl"


def write_fills(home: Path, day: dt.date, fills: Iterable[Fill]) -> Path:
    path = fills_path(home, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with tmp.open("w") as fh:
        for f in fills:
            fh.write(json.dumps({"exec_id": f.exec_id, "order_id": f.order_id, "ts_ns": f.ts_ns, "account": f.account,
                                 "symbol": f.symbol, "side": int(f.side), "qty": f.qty, "price": f.price,
                                 "venue": f.venue}) + "\n")
    tmp.replace(path)
    return path


def read_fills(path: Path) -> list[Fill]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            d = json.loads(line)
            out.append(Fill(int(d["exec_id"]), int(d["order_id"]), int(d["ts_ns"]), str(d["account"]),
                            str(d["symbol"]), Side(int(d["side"])), int(d["qty"]), int(d["price"]),
                            int(d.get("venue", 1))))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path.name} line {n}: {exc}") from None
    return out


def read_state(home: Path) -> dict[str, object] | None:
    """What a running service under `home` advertised, or None (no file, or its process is gone)."""
    return read_advert(state_path(home))


def serve(home: Path, day: dt.date, config: FaultConfig, port: int = 0, stop: threading.Event | None = None) -> None:
    fills = read_fills(fills_path(home, day))
    plan = build_plan(fills, config.fitted(len(fills)))
    acc = DropCopyAcceptor(base_dir(home) / "acceptor", plan, day, port=port or None).start()
    doc = {"host": "127.0.0.1", "port": acc.port, "date": day.isoformat(),
           "reports": len(plan.reports), "seed": config.seed, "expected_breaks": plan.expected_breaks()}
    advertise_until_stopped(state_path(home), doc, stop, acc.stop)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hw.clearing_twin.fix_service", description=__doc__)
    ap.add_argument("--home", required=True, type=Path, help="COLO_OPS_HOME the service belongs to")
    ap.add_argument("--date", required=True, type=dt.date.fromisoformat, help="business date (YYYY-MM-DD)")
    ap.add_argument("--seed", type=int, default=1, help="fault plan seed")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free port)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(args.home.absolute(), args.date, FaultConfig(seed=args.seed), args.port, stop)


if __name__ == "__main__":
    main()
