"""Binary Star pair of real twin processes: takeover, passive refusals, fencing, split brain, failback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from core_bridge.audit import AuditLog
from core_bridge.client.commands import CoreClient
from core_bridge.errors import CommandError
from hw.twin.launch import TwinPair, start_pair


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[TwinPair]:
    p = start_pair(tmp_path / "pair")
    try:
        yield p
    finally:
        p.stop()


def _client(p: TwinPair, identity: str = "operator", audit: AuditLog | bool = False) -> CoreClient:
    return CoreClient(p.control_endpoints, p.keys_dir, identity=identity, operator="test", audit=audit,
                      timeout_ms=150, retries=20)


def test_command_when_sent_to_passive_then_refused_ha_not_active(pair: TwinPair) -> None:
    rep = pair.standby.call("set_kill", {"scope": "firm", "key": None, "level": "HALTED"})
    assert not rep.ok and rep.code == "HA_NOT_ACTIVE"
    assert pair.standby.call("status", identity="monitor").result["ha_role"] == "passive"


def test_takeover_when_primary_killed_then_same_epoch_next_seq_and_retry_applied_once(pair: TwinPair) -> None:
    with _client(pair) as c:
        c.set_kill("account", "PROP01", "HALTED", "drill", idempotency_key="k1")
        before = pair.primary.call("snapshot").result
        pair.primary.kill()
        again = c.set_kill("account", "PROP01", "HALTED", "drill", idempotency_key="k1")  # same key: replayed
        after = pair.standby.call("snapshot").result
    assert again.state_version == before["state_version"]
    assert after["ha_role"] == "active" and after["epoch"] == before["epoch"]
    assert after["last_seq"] == before["last_seq"] + 1  # ROLE_CHANGED (TAKEOVER) continues the stream
    for key in ("kill", "limits", "bp", "locates", "restricted", "halts", "positions"):
        assert after[key] == before[key], key


def test_old_primary_when_restarted_after_takeover_then_stays_passive_fenced(pair: TwinPair) -> None:
    with _client(pair) as c:
        pair.primary.kill()
        c.set_kill("account", "PROP02", "HALTED", "drill")
        pair.primary.restart()
        st = pair.primary.wait_ha("passive")
        assert st["fenced"] is True
        rep = pair.primary.call("set_kill", {"scope": "firm", "key": None, "level": "HALTED"})
        assert rep.code == "HA_FENCED"
        c.set_kill("account", "PROP03", "HALTED", "after fencing")
    assert pair.standby.ha_status()["state"] == "active"  # type: ignore[index]


def test_promote_when_peer_active_then_split_brain_refused_and_audited(pair: TwinPair, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    admin = CoreClient([pair.standby.endpoints["control"]], pair.keys_dir, identity="admin", operator="test",
                       audit=audit, timeout_ms=500, retries=1)
    with admin, pytest.raises(CommandError) as err:
        admin.ha_promote("try to split the pair")
    assert err.value.code == "HA_SPLIT_BRAIN"
    lines = [orjson.loads(x) for x in (tmp_path / "audit.jsonl").read_bytes().splitlines()]
    assert lines[-1]["command"] == "ha_promote" and lines[-1]["code"] == "HA_SPLIT_BRAIN"
    assert pair.standby.ha_status()["split_brain_refusals"] == 1  # type: ignore[index]


def test_failback_when_demoted_then_promoted_then_primary_leads_same_stream(pair: TwinPair) -> None:
    with _client(pair) as c:
        pair.primary.kill()
        c.set_kill("account", "PROP01", "HALTED", "drill")
        pair.primary.restart()
        pair.primary.wait_ha("passive")
        pair.wait_in_sync()  # the fenced primary resyncs the stream before failback
        epoch = pair.standby.call("status", identity="monitor").result["epoch"]
        assert pair.standby.call("ha_demote", identity="admin").ok
        pair.primary.wait_peer("passive")  # the primary hears the demoted peer's next heartbeat
        rep = pair.primary.call("ha_promote", identity="admin")
        assert rep.ok and rep.result["state"] == "active"
        c.set_kill("account", "PROP04", "HALTED", "after failback")
        st = pair.primary.call("status", identity="monitor").result
    assert st["epoch"] == epoch and st["kill"]["account"]["PROP04"] == "HALTED"


def test_peer_link_when_garbage_frames_sent_then_pair_keeps_serving(pair: TwinPair) -> None:
    import zmq

    from core_bridge.auth import client_keypair, configure_client, server_public

    ctx: zmq.Context = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    configure_client(s, client_keypair(pair.keys_dir, "peer"), server_public(pair.keys_dir))
    assert pair.standby.ha_endpoint is not None
    s.connect(pair.standby.ha_endpoint)
    garbage: list[list[bytes]] = [[b"H"], [b"H", b"not json"], [b"R", b"[]"], [b"H", b'{"state": 7, "term": "x"}'],
                                  [b"R", b'{"epoch": 1, "first_seq": 1, "count": 3}', b"short"],
                                  [b"R", b'{"epoch": "a"}', b""], [b"Z", b"{}"], [b"A", b"{}", b"x", b"y"]]
    for frames in garbage * 20:
        s.send_multipart(frames)
    s.close(0)
    with _client(pair) as c:
        assert c.set_kill("account", "PROP01", "HALTED", "after garbage").ok
    assert pair.standby.ha_status()["state"] == "passive"  # type: ignore[index]
    assert pair.primary.ha_status()["state"] == "active"  # type: ignore[index]
