"""corectl must start fast: its import path pulls in nothing heavy."""

from __future__ import annotations

import subprocess
import sys

# typer/pydantic too: plain kill/resume/cancel-all never load them (core_bridge.cli.fastpath).
HEAVY = ("prefect", "pandas", "sqlalchemy", "great_expectations", "numpy", "typer", "pydantic", "rich", "asyncio",
         "prometheus_client", "paramiko")


def test_corectl_import_when_loaded_cold_then_no_heavy_module() -> None:
    code = (
        "import sys, core_bridge.cli, core_bridge.cli.app, core_bridge.cli.common, core_bridge.cli.fastpath,"
        " core_bridge.client, core_bridge.client.commands, core_bridge.audit, core_bridge.telemetry;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_corectl_argv_when_journal_not_asked_then_journal_commands_not_imported() -> None:
    code = (
        "import sys; from core_bridge.cli.app import build_app; build_app(['limits', 'show']);"
        "print('core_bridge.cli.journal' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
