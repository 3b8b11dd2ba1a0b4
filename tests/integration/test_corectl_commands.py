"""corectl end to end, as a separate process against the real twin: --json output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import zmq.auth

from hw.twin.launch import TwinHandle

CORECTL = str(Path(sys.executable).with_name("corectl"))


def corectl(*args: str, env_extra: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Run corectl; returns (exit code, parsed JSON stdout or raw text, stderr)."""
    env = dict(os.environ, COLO_OPS_OPERATOR="jdoe", **(env_extra or {}))
    out = subprocess.run([CORECTL, *args], capture_output=True, text=True, env=env, timeout=60)
    try:
        doc: Any = json.loads(out.stdout) if out.stdout.strip() else None
    except json.JSONDecodeError:
        doc = out.stdout
    return out.returncode, doc, out.stderr


def test_status_json_when_core_is_up_then_contract_keys_and_exit_0(twin_core: TwinHandle) -> None:
    code, doc, err = corectl("status", "--json")
    assert code == 0, err
    for key in ("role", "trading_state", "kill", "last_seq", "heartbeat_age_ms", "limits_version"):
        assert key in doc
    assert doc["role"] == "active" and doc["trading_state"] == "ACTIVE"
    assert doc["kill"]["firm"] == "ACTIVE"
    assert isinstance(doc["heartbeat_age_ms"], float) and doc["heartbeat_age_ms"] >= 0
    code, text, _ = corectl("--key", "monitor", "status")
    assert code == 0 and "trading state  ACTIVE" in text


def test_status_when_telemetry_is_silent_then_heartbeat_null_and_exit_5(twin_core: TwinHandle) -> None:
    # A telemetry endpoint nobody publishes on: the core acks, but no heartbeat can arrive.
    code, doc, _ = corectl("--telemetry", "tcp://127.0.0.1:9", "--timeout", "300", "status", "--json")
    assert code == 5
    assert doc["heartbeat_age_ms"] is None and doc["trading_state"] == "ACTIVE"


def test_kill_resume_cancel_all_when_acked_then_exit_0_and_status_follows(twin_core: TwinHandle) -> None:
    code, doc, err = corectl("kill", "--account", "PROP01", "--level", "CANCEL_ONLY", "--reason", "INC-1", "--json")
    assert code == 0, err
    assert (doc["scope"], doc["key"], doc["level"], doc["previous"]) == ("account", "PROP01", "CANCEL_ONLY", "ACTIVE")
    code, doc, _ = corectl("--json", "kill", "--firm", "--reason", "INC-1")  # default level HALTED
    assert code == 0 and doc["level"] == "HALTED"
    code, doc, _ = corectl("kill", "--venue", "arca", "--level", "REDUCE_ONLY", "--reason", "INC-1", "--json")
    assert code == 0 and doc["key"] == "ARCA"
    code, doc, _ = corectl("cancel-all", "--symbol", "AAPL", "--reason", "INC-1", "--json")
    assert code == 0 and doc["cancelled"] == 0
    _, status, _ = corectl("status", "--json")
    assert status["trading_state"] == "HALTED"
    assert status["kill"]["account"] == {"PROP01": "CANCEL_ONLY"}
    code, doc, _ = corectl("resume", "--firm", "--reason", "INC-1 closed", "--json")
    assert code == 0 and (doc["previous"], doc["level"]) == ("HALTED", "ACTIVE")
    _, status, _ = corectl("status", "--json")
    assert status["trading_state"] == "ACTIVE" and status["kill"]["account"] == {"PROP01": "CANCEL_ONLY"}


def test_kill_when_usage_is_wrong_then_exit_2_and_nothing_sent(twin_core: TwinHandle) -> None:
    assert corectl("kill", "--firm")[0] == 2  # no --reason
    assert corectl("kill", "--firm", "--account", "PROP01", "--reason", "x")[0] == 2  # two scopes
    assert corectl("kill", "--firm", "--level", "ACTIVE", "--reason", "x")[0] == 2  # resume is for ACTIVE
    assert corectl("kill", "--venue", "BATS", "--reason", "x")[0] == 2
    assert corectl("kill", "--firm", "--reason", "x", "--bogus")[0] == 2
    code, doc, _ = corectl("--json", "kill", "--reason", "x")
    assert code == 2 and doc["error"] == "usage"
    assert not (twin_core.home / "audit" / "control.jsonl").exists()


def test_kill_when_core_refuses_then_exit_1_with_reason_code(twin_core: TwinHandle) -> None:
    code, doc, _ = corectl("kill", "--account", "WAYTOOLONGACCT", "--reason", "x", "--json")
    assert code == 1 and doc["code"] == "MSG_ARGS_INVALID"


def test_kill_when_key_is_monitor_then_exit_4_and_audited_refused(twin_core: TwinHandle) -> None:
    code, doc, _ = corectl("--key", "monitor", "kill", "--firm", "--reason", "should fail", "--json")
    assert code == 4 and doc["error"] == "role_denied" and doc["code"] == "AUTH_ROLE_DENIED"
    assert corectl("status", "--json")[1]["trading_state"] == "ACTIVE"
    code, doc, _ = corectl("audit", "--json")
    (rec,) = doc["records"]
    assert (rec["command"], rec["result"], rec["identity"], rec["operator"]) == ("set_kill", "refused", "monitor",
                                                                                "jdoe")


def test_kill_when_key_is_unknown_then_exit_4_auth_refused(twin_core: TwinHandle) -> None:
    zmq.auth.create_certificates(str(twin_core.keys_dir / "clients"), "stranger")
    code, doc, _ = corectl("--key", "stranger", "kill", "--firm", "--reason", "x", "--json")
    assert code == 4 and doc["error"] == "auth_refused"


def test_kill_when_key_file_missing_then_exit_4_config(twin_core: TwinHandle) -> None:
    code, doc, _ = corectl("--key", "nobody", "kill", "--firm", "--reason", "x", "--json")
    assert code == 4 and doc["error"] == "config" and "nobody.key_secret" in doc["message"]


def test_kill_when_core_is_down_then_exit_3_no_ack_and_audited(twin_core: TwinHandle) -> None:
    twin_core.stop()
    code, doc, _ = corectl("--timeout", "100", "--retries", "1", "kill", "--firm", "--reason", "x", "--json")
    assert code == 3 and doc["error"] == "no_ack" and doc["attempts"] == 2
    code, doc, _ = corectl("--timeout", "100", "--retries", "0", "status", "--json")
    assert code == 3
    _, audit, _ = corectl("audit", "--json", "--command", "set_kill")
    assert [r["result"] for r in audit["records"]] == ["no_ack"]


def test_limits_show_and_set_when_approved_then_new_version_and_temporary_raise_listed(twin_core: TwinHandle,
                                                                                      tmp_path: Path) -> None:
    code, before, _ = corectl("limits", "show", "--json")
    assert code == 0 and before["limits"]["firm"]["max_order_qty"] > 0
    change = ["max_order_qty=20000", "max_order_notional=1500000.50", "--account", "PROP01"]
    approval = tmp_path / "approval.json"
    code, _, err = corectl("--key", "admin", "limits", "approve", *change, "--approver", "R. Risk", "--reason",
                           "rebalance", "--until", "+30m", "--out", str(approval), "--json")
    assert code == 0, err
    code, doc, err = corectl("limits", "set", *change, "--approver", "R. Risk", "--reason", "rebalance",
                             "--approval", str(approval), "--json")
    assert code == 0, err
    assert doc["limits_version"] == before["limits_version"] + 1 and doc["until_ns"] > 0
    _, after, _ = corectl("limits", "show", "--account", "PROP01", "--json")
    assert after["limits"]["PROP01"]["max_order_qty"] == 20000
    assert [t["account"] for t in after["temp_limits"]] == ["PROP01"]
    big = tmp_path / "big.json"
    assert corectl("--key", "admin", "limits", "approve", "max_order_qty=500000", "--approver", "R", "--reason", "x",
                   "--until", "+30m", "--out", str(big))[0] == 0
    code, doc, _ = corectl("limits", "set", "max_order_qty=500000", "--approver", "R", "--reason", "x",
                           "--approval", str(big), "--json")
    assert code == 1 and doc["code"] == "LIMIT_POLICY_EXCEEDED"  # above what an operator key may set
    assert corectl("limits", "set", "max_order_qty=1", "--reason", "no approver")[0] == 2
    assert corectl("limits", "set", "max_qty=1", "--approver", "R", "--reason", "x")[0] == 2
    assert corectl("limits", "set", "max_order_qty=1", "--approver", "R", "--reason", "x", "--until", "-5m")[0] == 2


def test_watch_once_when_core_is_up_then_one_frame_with_every_figure(twin_core: TwinHandle) -> None:
    code, doc, err = corectl("--key", "monitor", "watch", "--once", "--json")
    assert code == 0, err
    for key in ("trading_state", "kill", "heartbeat_age_ms", "orders_per_sec", "rejects_by_reason", "exposure",
                "latency_us", "auth_failures"):
        assert key in doc
    assert doc["heartbeat_age_ms"] is not None and doc["orders_per_sec"] is not None
    code, text, _ = corectl("--key", "monitor", "watch", "--once")
    assert code == 0 and "trading state" in text and "kill levels" in text and "rejects by reason" in text


def test_audit_when_filtered_then_only_matching_attempts(twin_core: TwinHandle) -> None:
    corectl("kill", "--symbol", "TSLA", "--reason", "news", "--id", "INC-9")
    corectl("kill", "--symbol", "TSLA", "--reason", "news", "--id", "INC-9")  # replayed, applied once
    corectl("--operator", "asmith", "cancel-all", "--firm", "--reason", "eod")
    code, doc, _ = corectl("audit", "--json", "--command", "set_kill")
    assert code == 0 and len(doc["records"]) == 2
    a, b = doc["records"]
    assert a["id"] == b["id"] and a["state_version"] == b["state_version"]
    _, doc, _ = corectl("audit", "--json", "--operator", "asmith", "--since", "1h")
    assert [r["command"] for r in doc["records"]] == ["cancel_all"]
    code, text, _ = corectl("audit", "--last", "1")
    assert code == 0 and "cancel_all firm" in text and "asmith" in text


def test_keys_init_when_fresh_home_then_keyset_created(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    code, doc, _ = corectl("--keys-dir", str(keys), "keys", "init", "--client", "risk-officer=admin", "--json")
    assert code == 0 and doc["clients"]["monitor"] == "monitor" and doc["clients"]["risk-officer"] == "admin"
    assert (keys / "core.key_secret").exists() and (keys / "clients" / "operator.key_secret").exists()
    roles = json.loads((keys / "roles.json").read_text())
    assert len(roles) == 5 and {"name": "risk-officer", "role": "admin"} in roles.values()  # a four-eyes approver
    assert corectl("--keys-dir", str(keys), "keys", "init", "--client", "cro=boss")[0] == 2


def test_help_when_asked_then_exit_codes_and_commands_documented() -> None:
    code, text, _ = corectl("--help")
    assert code == 0
    for word in ("status", "watch", "kill", "resume", "cancel-all", "limits", "audit", "keys", "Exit codes"):
        assert word in text
    code, text, _ = corectl("kill", "--help")
    assert code == 0 and "--reason" in text and "HALTED" in text


def test_key_setting_when_colo_ops_key_is_monitor_then_kill_is_role_denied(twin_core: TwinHandle) -> None:
    code, doc, _ = corectl("kill", "--firm", "--reason", "x", "--json", env_extra={"COLO_OPS_KEY": "monitor"})
    assert code == 4 and doc["code"] == "AUTH_ROLE_DENIED"
    code, doc, _ = corectl("--key", "operator", "kill", "--firm", "--reason", "x", "--json",
                           env_extra={"COLO_OPS_KEY": "monitor"})
    assert code == 0 and doc["level"] == "HALTED"


def test_kill_when_wait_durable_then_applied_and_durable_printed_and_audited(twin_core: TwinHandle) -> None:
    from core_bridge.audit import default_path, read_audit

    code, text, err = corectl("kill", "--symbol", "TSLA", "--reason", "INC-7")
    assert code == 0, err
    assert text.startswith("ACK symbol TSLA: ACTIVE -> HALTED") and ": applied" in text  # acked when applied
    code, doc, err = corectl("kill", "--symbol", "MSFT", "--reason", "INC-7", "--wait-durable", "--json")
    assert code == 0, err
    assert doc["applied"] is True and doc["durable"] is True and doc["durable_version"] >= doc["state_version"]
    assert doc["durable_ns"] >= doc["applied_ns"] > 0
    code, text, err = corectl("resume", "--symbol", "MSFT", "--reason", "INC-7 over", "--wait-durable")
    assert code == 0, err
    assert "applied, durable" in text  # a resume is acked only once durable
    rec = read_audit(default_path(twin_core.home)).records
    msft = [r for r in rec if r.get("key") == "MSFT"]
    assert [r["result"] for r in msft] == ["ok", "ok"]
    assert all(r["applied_ns"] and r["durable_ns"] and r["durable_ns"] >= r["applied_ns"] for r in msft)
