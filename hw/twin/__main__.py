"""Run one twin node: `python -m hw.twin --home DIR --node primary|standby [--flow-rate N] [--seed S]`.

Keys are created under <home>/keys if missing; the endpoint file <home>/run/twin-<node>.json (endpoints,
pid) is written once the sockets are bound and removed on a graceful stop (SIGTERM or SIGINT).
Endpoints default to the settings' core endpoints for the node (standby ports are +100); `--ports
C,T,D,R` binds those four ports instead (control, telemetry, dropcopy, rewind) on `--bind` (default
127.0.0.1; an HA drill's node binds its network namespace's address, see hw.netns).
`--ha-port P --peer tcp://host:Q` makes the node one half of a Binary Star pair (hw.twin.ha); the peer link
binds on `--bind` too.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from core_bridge.protocol import DEFAULT_PORTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.twin", description="Software twin of the trading core.")
    ap.add_argument("--home", type=Path, default=None, help="data home (default: as colo-ops settings)")
    ap.add_argument("--node", choices=("primary", "standby"), default="primary")
    ap.add_argument("--keys-dir", type=Path, default=None, help="CURVE keys (default: settings keys dir)")
    ap.add_argument("--ports", default=None, help="control,telemetry,dropcopy,rewind ports (on --bind)")
    ap.add_argument("--bind", default="127.0.0.1", help="IPv4 address for --ports and --ha-port (default 127.0.0.1)")
    ap.add_argument("--flow-rate", type=int, default=0, help="simulated new orders per second (0 = none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ha-port", type=int, default=None, help="Binary Star peer-link port on --bind (with --peer)")
    ap.add_argument("--peer", default=None, help="the peer node's peer-link endpoint, e.g. tcp://127.0.0.1:5560")
    ap.add_argument("--heartbeat-ms", type=int, default=100, help="peer heartbeat interval (Binary Star)")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    try:
        bind = str(ipaddress.IPv4Address(args.bind))
    except ValueError:
        ap.error(f"--bind needs an IPv4 address, not {args.bind!r}")
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from core_bridge.settings import load_settings
    from hw.twin.server import TwinCore

    settings = load_settings(args.home)
    if args.ports:
        ports = [int(p) for p in args.ports.split(",")]
        if len(ports) != 4:
            ap.error("--ports needs four ports: control,telemetry,dropcopy,rewind")
        endpoints = {name: f"tcp://{bind}:{p}" for name, p in zip(DEFAULT_PORTS, ports, strict=True)}
    else:
        endpoints = {name: settings.core_endpoint(name, args.node) for name in DEFAULT_PORTS}
    if (args.ha_port is None) != (args.peer is None):
        ap.error("--ha-port and --peer go together (a Binary Star pair)")
    twin = TwinCore(settings.home, args.node, endpoints, keys_dir=args.keys_dir or settings.keys_dir,
                    flow_rate=args.flow_rate, seed=args.seed,
                    ha_endpoint=f"tcp://{bind}:{args.ha_port}" if args.ha_port is not None else None,
                    peer_endpoint=args.peer, heartbeat_ms=args.heartbeat_ms)
    twin.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
