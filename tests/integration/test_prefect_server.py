"""The local Prefect server the demo and `opsctl server up` start: healthy, found again, stopped by PID."""

from __future__ import annotations

import os
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
def test_ensure_server_when_none_then_started_reused_and_stopped(ops_home: Path) -> None:
    from flows.orchestration.local_server import current, ensure_server, healthy, stop_server

    settings = load_settings()
    info = ensure_server(settings, port=4300)
    try:
        assert info.pid is not None and healthy(info.url)
        assert os.environ["PREFECT_API_URL"] == info.url  # this process now talks to it
        again = ensure_server(settings, port=4300)
        assert again.pid == info.pid  # found through the state file under the home, not started twice
        assert current(settings) == info
    finally:
        stopped = stop_server(settings)
    assert stopped
    wait_for(lambda: _exited(info.pid), timeout=30, what="the prefect server to exit")  # type: ignore[arg-type]
    assert current(settings) is None and not stop_server(settings)
