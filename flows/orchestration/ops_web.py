"""The demo's small web service on loopback: the reports over HTTP and a webhook sink for the alerts.

    GET  /reports/<date>/...   files under <home>/reports (read-only; nothing outside it is served)
    POST /hooks/<name>         one JSON body appended to <home>/run/webhooks.jsonl (the pager's twin)
    GET  /hooks                what was received, as JSON lines

A browser pointed at the Prefect UI cannot open `file://` links, so the artifacts link the reports here
(`reports.base_url`); Prefect's automations and the recon alerts post to `alerts.webhook_url`, which the demo
points here, so "did the page fire" is a file to read. Run as
`python -m flows.orchestration.ops_web --home H [--port P]`; it advertises itself in `<home>/run/ops-web.json`.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

STATE_FILE = "ops-web.json"
HOOKS_FILE = "webhooks.jsonl"
MAX_BODY = 1 << 20


def state_path(home: Path) -> Path:
    return home / "run" / STATE_FILE


def read_state(home: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(state_path(home).read_text())
        os.kill(int(doc["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return doc  # type: ignore[no-any-return]


def received_hooks(home: Path) -> list[dict[str, Any]]:
    path = home / "run" / HOOKS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _handler(home: Path) -> type[BaseHTTPRequestHandler]:
    reports = (home / "reports").resolve()
    hooks = home / "run" / HOOKS_FILE
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        server_version = "colo-ops-web"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # the demo's console stays clean; the hooks file is the record

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/hooks":
                body = hooks.read_bytes() if hooks.exists() else b""
                return self._send(200, body, "application/x-ndjson")
            if not path.startswith("/reports/"):
                return self._send(404, b"not found\n")
            target = (reports / path.removeprefix("/reports/")).resolve()
            if not target.is_relative_to(reports) or not target.is_file():
                return self._send(404, b"not found\n")
            ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype == "application/json":
                ctype += "; charset=utf-8"
            self._send(200, target.read_bytes(), ctype)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            if not path.startswith("/hooks/") or length > MAX_BODY:
                return self._send(404 if length <= MAX_BODY else 413, b"refused\n")
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode("utf-8", "replace")
            entry = {"received_ns": time.time_ns(), "hook": path.removeprefix("/hooks/"), "body": body}
            with lock:
                hooks.parent.mkdir(parents=True, exist_ok=True)
                with hooks.open("a") as f:
                    f.write(json.dumps(entry, sort_keys=True) + "\n")
            self._send(200, b"ok\n")

    return Handler


def serve(home: Path, port: int = 0, stop: threading.Event | None = None) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(home))
    httpd.daemon_threads = True
    bound = httpd.server_address[1]
    base = f"http://127.0.0.1:{bound}"
    doc = {"pid": os.getpid(), "port": bound, "reports_base_url": f"{base}/reports",
           "webhook_url": f"{base}/hooks/alerts"}
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    thread = threading.Thread(target=httpd.serve_forever, name="ops-web", daemon=True)
    thread.start()
    stop = stop or threading.Event()
    try:
        stop.wait()
    finally:
        httpd.shutdown()
        httpd.server_close()
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flows.orchestration.ops_web", description=__doc__)
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(args.home.absolute(), args.port, stop)


if __name__ == "__main__":
    main()
