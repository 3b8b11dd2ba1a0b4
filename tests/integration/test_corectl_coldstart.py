"""A real `corectl kill` process on the on-call path loads neither typer/pydantic nor anything heavy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core_bridge.auth import generate_keyset

PROBE = (
    "import sys; sys.argv = ['corectl'] + sys.argv[1:]\n"
    "from core_bridge.cli.app import main\n"
    "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
    "heavy = [m for m in ('typer', 'pydantic', 'rich', 'numpy', 'prefect', 'pandas', 'sqlalchemy')\n"
    "         if m in sys.modules]\n"
    "print(code, ','.join(heavy))\n"
)


def test_cold_kill_when_core_unreachable_then_exit_3_without_heavy_imports(tmp_path: Path) -> None:
    generate_keyset(tmp_path / "keys")
    argv = ["--endpoint", "tcp://127.0.0.1:9", "--keys-dir", str(tmp_path / "keys"), "--timeout", "50",
            "--retries", "0", "kill", "--firm", "--level", "HALTED", "--reason", "cold start probe"]
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, COLO_OPS_HOME=str(tmp_path)), check=True)
    assert out.stdout.split("\n")[0].split(" ") == ["3", ""]
    assert (tmp_path / "audit" / "control.jsonl").read_text().count('"no_ack"') == 1
