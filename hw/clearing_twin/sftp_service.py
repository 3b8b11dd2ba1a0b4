"""The clearing firm's SFTP twin as a long-running service: `python -m hw.clearing_twin.sftp_service --home H`.

It serves `<home>/clearing_twin/served` read-only and advertises where it listens in
`<home>/run/clearing-sftp.json` (host, port, user, key, known_hosts), the same way a twin core advertises its
endpoints in `run/twin-<node>.json`: a flow started from any shell, or by a Prefect worker, finds it there
without environment variables. The file is removed on a clean stop (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from hw.clearing_twin.advert import advertise_until_stopped, read_advert
from hw.clearing_twin.sftp_server import EmbeddedSftpServer, load_or_generate_key

STATE_FILE = "clearing-sftp.json"


def state_path(home: Path) -> Path:
    return home / "run" / STATE_FILE


def read_state(home: Path) -> dict[str, object] | None:
    """What a running service under `home` advertised, or None (no file, or its process is gone)."""
    return read_advert(state_path(home))


def serve(home: Path, port: int = 0, stop: threading.Event | None = None) -> None:
    keys = home / "keys" / "clearing_sftp"
    host_key = load_or_generate_key(keys / "host_key")
    user_key = load_or_generate_key(keys / "user_key")
    served = home / "clearing_twin" / "served"
    served.mkdir(parents=True, exist_ok=True)
    server = EmbeddedSftpServer(served, host_key, [user_key], username="colo", port=port)
    server.start()
    (keys / "known_hosts").write_text(server.known_hosts_line() + "\n")
    doc = {"host": server.host, "port": server.port, "user": "colo",
           "key": str(keys / "user_key"), "known_hosts": str(keys / "known_hosts"), "root": str(served)}
    advertise_until_stopped(state_path(home), doc, stop, server.stop)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hw.clearing_twin.sftp_service", description=__doc__)
    ap.add_argument("--home", required=True, type=Path, help="COLO_OPS_HOME the service belongs to")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free port)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A client closing its session is routine for a server; paramiko logs it at ERROR from its transport
    # thread ("Socket exception: Connection reset by peer"). Real failures still surface as WARNINGs above.
    logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(args.home.absolute(), args.port, stop)


if __name__ == "__main__":
    main()
