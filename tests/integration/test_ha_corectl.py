"""corectl ha status|promote|demote as a separate process against a real twin pair: JSON, exit codes, audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core_bridge.audit import read_audit
from hw.twin.launch import TwinPair, start_pair

CORECTL = str(Path(sys.executable).with_name("corectl"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinPair]:
    p = start_pair(tmp_path_factory.mktemp("ha-corectl"))
    try:
        yield p
    finally:
        p.stop()


def corectl(p: TwinPair, home: Path, *args: str) -> tuple[int, Any, str]:
    env = dict(os.environ, COLO_OPS_OPERATOR="jdoe", COLO_OPS_HOME=str(home),
               COLO_OPS_CORE_PRIMARY_CONTROL=p.primary.endpoints["control"],
               COLO_OPS_CORE_STANDBY_CONTROL=p.standby.endpoints["control"])
    out = subprocess.run([CORECTL, "--keys-dir", str(p.keys_dir), *args], capture_output=True, text=True, env=env,
                         timeout=60)
    try:
        doc: Any = json.loads(out.stdout) if out.stdout.strip() else None
    except json.JSONDecodeError:
        doc = out.stdout
    return out.returncode, doc, out.stderr


def _audit(home: Path) -> list[dict[str, Any]]:
    return read_audit(home / "audit" / "control.jsonl").records


def test_ha_status_when_pair_up_then_both_nodes_and_the_active_one(pair: TwinPair, tmp_path: Path) -> None:
    code, doc, err = corectl(pair, tmp_path, "--key", "monitor", "ha", "status", "--json")
    assert code == 0, err
    assert doc["active"] == ["primary"]
    assert doc["nodes"]["standby"]["fsm"] == "BACKUP_PASSIVE" and doc["nodes"]["primary"]["term"] >= 1
    code, text, _ = corectl(pair, tmp_path, "--key", "monitor", "ha", "status", "--node", "standby")
    assert code == 0 and "BACKUP_PASSIVE" in text


def test_ha_promote_when_peer_active_then_refused_split_brain_exit_1_and_audited(pair: TwinPair,
                                                                                  tmp_path: Path) -> None:
    code, doc, _ = corectl(pair, tmp_path, "--key", "admin", "ha", "promote", "--node", "standby",
                           "--reason", "drill", "--json")
    assert code == 1 and doc["code"] == "HA_SPLIT_BRAIN"
    last = _audit(tmp_path)[-1]
    assert (last["command"], last["code"], last["operator"], last["reason"]) == ("ha_promote", "HA_SPLIT_BRAIN",
                                                                                 "jdoe", "drill")


def test_ha_promote_when_operator_key_then_role_denied_exit_4(pair: TwinPair, tmp_path: Path) -> None:
    code, doc, _ = corectl(pair, tmp_path, "--key", "operator", "ha", "promote", "--node", "standby",
                           "--reason", "x", "--json")
    assert code == 4 and doc["error"] == "role_denied"


def test_ha_demote_then_promote_when_admin_then_standby_leads_and_both_audited(pair: TwinPair,
                                                                                tmp_path: Path) -> None:
    code, doc, err = corectl(pair, tmp_path, "--key", "admin", "ha", "demote", "--node", "primary",
                             "--reason", "failover test", "--json")
    assert code == 0 and doc["changed"] is True and doc["ha_role"] == "passive", err
    pair.standby.wait_peer("passive")  # the standby hears the demoted primary's next heartbeat
    code, doc, err = corectl(pair, tmp_path, "--key", "admin", "ha", "promote", "--node", "standby",
                             "--reason", "failover test", "--json")
    assert code == 0 and doc["state"] == "active", err
    code, doc, _ = corectl(pair, tmp_path, "--key", "monitor", "ha", "status", "--json")
    assert doc["active"] == ["standby"]
    assert [(r["command"], r["result"]) for r in _audit(tmp_path)] == [("ha_demote", "ok"), ("ha_promote", "ok")]
