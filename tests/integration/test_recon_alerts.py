"""Alert channels for new breaks: a JSON webhook and an Apprise json:// URL against a real loopback HTTP
endpoint, registered hooks, and a broken channel reported without stopping the others."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flows.recon import alerts


class _Sink(http.server.BaseHTTPRequestHandler):
    got: list[Any] = []

    def do_POST(self) -> None:  # noqa: N802
        _Sink.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    _Sink.got = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Settings(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:  # the Settings.get shape
        return super().get(key, default)


def test_alert_when_webhook_apprise_and_hooks_configured_then_each_delivers_and_a_broken_one_is_reported(
        sink: str) -> None:
    seen: list[alerts.Alert] = []

    def broken(alert: alerts.Alert) -> None:
        raise RuntimeError("pager down")

    alerts.register_hook(seen.append)
    alerts.register_hook(broken)
    try:
        out = alerts.send(alerts.Alert("recon 2026-11-20: 2 new break(s)", "QTY_MISMATCH 2", "2026-11-20", 2, 5),
                          _Settings({"alerts.webhook_url": f"http://{sink}/hook", "alerts.apprise_url": f"json://{sink}/a"}))
    finally:
        alerts.unregister_hook(seen.append)
        alerts.unregister_hook(broken)
    assert out["webhook"] == "sent" and out["apprise"] == "sent" and out["log"] == "sent"
    assert [a.new_breaks for a in seen] == [2]
    assert any(v.startswith("failed: RuntimeError: pager down") for v in out.values())
    assert len(_Sink.got) == 2 and _Sink.got[0]["new_breaks"] == 2
    assert any("QTY_MISMATCH 2" in json.dumps(g) for g in _Sink.got[1:])
