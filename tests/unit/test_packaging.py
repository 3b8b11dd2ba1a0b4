"""Packaging smoke tests: the pinned stack resolves to something that actually runs."""

from __future__ import annotations

import subprocess
import sys


def test_prefect_server_imports_when_pins_are_installed() -> None:
    # pip check does not catch fastapi >= 0.155 breaking Prefect's server at import; this does.
    import prefect.server.api.server  # noqa: F401


def test_core_bridge_imports_nothing_heavy() -> None:
    code = (
        "import sys, core_bridge.protocol, core_bridge.settings, core_bridge.auth, core_bridge.reasons;"
        "bad=[m for m in ('prefect','pandas','great_expectations','sqlalchemy') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
