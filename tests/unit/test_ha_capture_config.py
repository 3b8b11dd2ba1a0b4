"""The capture's HA endpoints: the standby's drop copy, rewind and control come from the settings or a
locally started standby twin, and a single core keeps a single endpoint per socket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core_bridge.dropcopy.config import CaptureConfig


def test_from_home_when_standby_twin_file_present_then_both_nodes_listed(ops_home: Path) -> None:
    run = ops_home / "run"
    run.mkdir()
    eps = {"control": "tcp://127.0.0.1:7101", "dropcopy": "tcp://127.0.0.1:7103", "rewind": "tcp://127.0.0.1:7104"}
    (run / "twin-standby.json").write_text(json.dumps({"endpoints": eps}))
    cfg = CaptureConfig.from_home(ops_home)
    assert cfg.endpoints_for("dropcopy") == [cfg.dropcopy_endpoint, "tcp://127.0.0.1:7103"]
    assert cfg.endpoints_for("rewind")[1] == "tcp://127.0.0.1:7104"


def test_from_home_when_standby_set_in_env_then_setting_wins(ops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLO_OPS_CORE_STANDBY_REWIND", "tcp://10.0.0.2:17104")
    cfg = CaptureConfig.from_home(ops_home)
    assert cfg.endpoints_for("rewind") == [cfg.rewind_endpoint, "tcp://10.0.0.2:17104"]


def test_from_home_when_no_standby_then_one_endpoint_per_socket(ops_home: Path) -> None:
    cfg = CaptureConfig.from_home(ops_home)
    assert [len(cfg.endpoints_for(s)) for s in ("dropcopy", "rewind", "control")] == [1, 1, 1]
