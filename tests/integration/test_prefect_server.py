"""The local Prefect server the demo and `opsctl server up` start: healthy, found again, stopped by PID; on a
busy port it takes another, and its UI talks to that one."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core_bridge.settings import load_settings
from tests.polling import wait_for


def _exited(pid: int) -> bool:
    """The server is this process's child: reap it, so an exited one does not linger as a zombie."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


@pytest.fixture
def own_environ() -> Iterator[None]:
    """ensure_server points this process at its server through the environment: put it back afterwards."""
    saved = dict(os.environ)
    os.environ.pop("PREFECT_API_URL", None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.usefixtures("own_environ")
def test_ensure_server_when_port_busy_then_another_port_whose_ui_talks_to_it_reused_and_stopped(
        ops_home: Path) -> None:
    from flows.orchestration.local_server import current, ensure_server, healthy, stop_server

    settings = load_settings()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    try:
        info = ensure_server(settings, port=busy_port)
    finally:
        busy.close()
    try:
        assert info.pid is not None and healthy(info.url)
        assert f":{busy_port}/" not in info.url
        assert os.environ["PREFECT_API_URL"] == info.url  # this process now talks to it
        with urllib.request.urlopen(f"{info.ui_url}/ui-settings", timeout=10) as resp:  # noqa: S310 - loopback
            ui = json.loads(resp.read())
        assert ui["api_url"] == info.url  # the browser's UI calls this server's API, not :4200
        again = ensure_server(settings, port=busy_port)
        assert again.pid == info.pid  # found through the state file under the home, not started twice
        assert current(settings) == info
    finally:
        stopped = stop_server(settings)
    assert stopped
    wait_for(lambda: _exited(info.pid), timeout=30, what="the prefect server to exit")  # type: ignore[arg-type]
    assert current(settings) is None and not stop_server(settings)
