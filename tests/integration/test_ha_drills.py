"""HA drill scenarios end to end: a twin pair whose nodes sit on real OpenSSH hosts (loopback sshd), faults
injected over SSH, a capture following the active node, and the drill's own checks. primary_network cuts the
primary's trading network for real (its node in a network namespace, the veth set down over SSH) where
namespaces work, and falls back to SIGSTOP, saying so, where they do not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import paramiko
import pytest

from flows.ha.runner import run_scenario
from hw import netns
from hw.errors import HostError
from hw.hosts import Host, LocalSshd, SshHost


def _assert_clean(res_checks: dict[str, object]) -> None:
    stream = res_checks["stream"]
    assert isinstance(stream, dict)
    assert stream["lost"] == 0 and stream["duplicated"] == 0 and stream["diverged"] == 0 and stream["ok"]


def test_primary_crash_when_killed_over_ssh_then_standby_takes_over_with_no_loss(tmp_path: Path) -> None:
    res = run_scenario("primary_crash", tmp_path)
    assert res.ok, res.failures
    assert res.fault_method == "sigkill"
    _assert_clean(res.checks)
    assert res.checks["state_differences"] == [] and res.checks["unresolved_in_flight"] == 0
    assert {"detect_ms", "accept_ms", "gap_free_ms"} <= set(res.metrics)


def _assert_network_drill_clean(res: Any) -> None:
    assert res.ok, res.failures
    _assert_clean(res.checks)
    c = res.checks
    assert c["state_differences"] == [] and c["unresolved_in_flight"] == 0
    assert c["old_primary_fenced"] is True and c["old_primary_pid_kept"] is True
    assert c["old_primary_reachable_during_cut"] is False and c["old_primary_events_during_cut"] == 0
    assert {"detect_ms", "accept_ms", "gap_free_ms", "heal_fenced_ms"} <= set(res.metrics)


def test_primary_network_when_link_cut_then_takeover_old_primary_alive_and_returns_fenced(tmp_path: Path) -> None:
    res = run_scenario("primary_network", tmp_path)
    _assert_network_drill_clean(res)
    probe = netns.probe()
    if not probe.ok:  # no namespaces here: the drill must have fallen back, and said so
        assert res.fault_method == "sigstop" and probe.reason in res.fault_note
        assert res.timeline[0][1].startswith("kill -STOP primary")
        return
    assert res.fault_method == "link_down" and res.fault_note == ""
    # The old primary ran in its own namespace, kept running (not stopped) while its link was down, and
    # the drill left no namespace, veth or route behind.
    ns = res.checks["old_primary_netns"]
    assert ns.startswith("colo-") and ns.endswith("-pri")
    assert res.checks["old_primary_proc_state_during_cut"] in ("R", "S", "D")
    labels = [label for _, label in res.timeline]
    assert labels[0].startswith("ip link set dev cr-") and labels[0].endswith("(primary's trading network cut)")
    assert any(label.startswith("ip link set dev cr-") and "up over SSH" in label for label in labels)
    run_id = ns.split("-")[1]
    assert run_id not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert run_id not in subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert res.checks["trading_network"]["subnet"] not in subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout


def test_primary_network_when_namespaces_unavailable_then_sigstop_fallback_used_and_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "probe", lambda: netns.NetnsProbe(False, "not root (test)"))
    res = run_scenario("primary_network", tmp_path)
    _assert_network_drill_clean(res)
    assert res.fault_method == "sigstop"
    assert res.fault_note == "network namespaces unavailable: not root (test)"
    assert res.checks["old_primary_proc_state_during_cut"] == "T"  # frozen, the fallback's way to go silent
    assert "old_primary_netns" not in res.checks
    assert res.timeline[0][1].startswith("kill -STOP primary") and "not root (test)" in res.timeline[0][1]
    assert res.to_dict()["fault_method"] == "sigstop"


def test_standby_crash_when_killed_then_primary_goes_on_and_restarted_standby_resyncs(tmp_path: Path) -> None:
    res = run_scenario("standby_crash", tmp_path)
    assert res.ok, res.failures
    assert res.checks["standby_resynced"] is True
    _assert_clean(res.checks)


def test_burst_crash_when_primary_dies_mid_burst_then_every_order_applied_once_and_resolved(tmp_path: Path) -> None:
    res = run_scenario("burst_crash", tmp_path)
    assert res.ok, res.failures
    assert res.checks["orders_not_applied_once"] == 0 and res.checks["submit_errors"] == 0
    assert res.checks["unresolved_in_flight"] == 0
    _assert_clean(res.checks)


def test_second_primary_when_started_then_refused_and_refusals_in_audit_log(tmp_path: Path) -> None:
    res = run_scenario("second_primary", tmp_path)
    assert res.ok, res.failures
    assert res.checks["second_primary_command"] == "HA_SPLIT_BRAIN"
    assert res.checks["promote_passive"] == "HA_SPLIT_BRAIN"
    assert {r["command"] for r in res.refusals} == {"set_kill", "ha_promote"}


def test_ssh_host_when_host_key_unknown_then_connection_rejected(tmp_path: Path) -> None:
    sshd = LocalSshd(tmp_path / "sshd").start()
    try:
        host = sshd.host("colo-x", "primary", tmp_path)
        (tmp_path / "empty_known_hosts").write_text("")
        stranger = type(host)(**{**host.__dict__, "known_hosts": tmp_path / "empty_known_hosts"})
        with pytest.raises(HostError, match="ssh connect failed"):
            SshHost(stranger)
        with SshHost(host) as h:
            assert h.run("echo ok").stdout.strip() == "ok"
            assert h.twin_pid() is None  # no twin on this host
    finally:
        sshd.stop()
    assert paramiko.RejectPolicy  # the policy the host interface installs


def test_ssh_host_when_shared_sshd_fixture_then_commands_run_with_verified_host_key(sshd_server: Any) -> None:
    host = Host("colo-fixture", sshd_server.host, sshd_server.port, sshd_server.username, sshd_server.key_file,
                sshd_server.known_hosts)
    with SshHost(host) as h:
        res = h.run("echo $((6 * 7)); exit 3")
        with pytest.raises(HostError, match="refusing kill"):
            h.kill(1, "KILL")
        with pytest.raises(HostError, match="refusing ip link set"):
            h.set_link("eth0; reboot", up=False)
        assert h.proc_state(os.getpid()) in ("R", "S")
        assert h.proc_state(2**22 + 1) is None  # above pid_max's default: no such process
        assert h.file_sizes(Path("/nonexistent-dir"), "*.evt") == {}
    assert (res.rc, res.stdout.strip()) == (3, "42")
