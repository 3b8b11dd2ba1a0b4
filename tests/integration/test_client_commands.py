"""CoreClient against the real twin core: every command acked, retries applied once, refusals, no ack,
unknown keys, and the audit log of every attempt."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import zmq.auth

from core_bridge.audit import SENT, UNRECORDED, AuditLog, default_path, read_audit
from core_bridge.client.commands import CoreClient
from core_bridge.errors import AuthRefusedError, CommandError, NoAckError, RoleDeniedError
from core_bridge.protocol import Reply
from hw.twin.launch import TwinHandle
from tests.polling import wait_for


def wait_until(pred: Callable[[], bool]) -> None:
    wait_for(pred, timeout=10.0)


def client(twin: TwinHandle, identity: str = "operator", **kw: object) -> CoreClient:
    return CoreClient(twin.endpoints["control"], twin.keys_dir, identity=identity, operator="jdoe",
                      **kw)  # type: ignore[arg-type]


def audit_records(home: Path) -> list[dict]:
    return read_audit(default_path(home)).records


def test_every_command_when_sent_through_the_client_then_acked_with_state_version(twin_core: TwinHandle) -> None:
    with client(twin_core) as c:
        v0 = c.status().state_version
        assert c.hello().result["role"] == "operator"
        assert c.snapshot().result["limits"]["firm"]
        mutating: list[Callable[[], Reply]] = [
            lambda: c.set_kill("symbol", "AAPL", "REDUCE_ONLY", "news"),
            lambda: c.set_kill("venue", "ARCA", "CANCEL_ONLY", "session flapping"),
            lambda: c.cancel_all("account", "PROP01", "desk request"),
            lambda: c.set_limits({"max_order_qty": 5000}, "R. Risk", "tighten", account="PROP01"),
            lambda: c.set_bp({"PROP01": "1000000.00"}, time.time_ns(), "bp refresh"),
            lambda: c.set_locates(c.snapshot().result["locates_date"] or "2026-11-20", {"AAPL": 1000}, "locates"),
            lambda: c.set_restricted(["XOM"], "restricted list"),
            lambda: c.set_halts({"TSLA": "HALTED"}, 0, "regulatory halt"),
            lambda: c.set_sod_positions("2026-11-20", {"PROP01": {"AAPL": 100}}, "sod"),
            lambda: c.submit_orders([{"action": "new", "clordid": 1, "account": "PROP02", "symbol": "MSFT",
                                      "side": "BUY", "qty": 10, "price": "420.00", "venue": "NSDQ"}]),
        ]
        versions = [f().state_version for f in mutating]
        assert versions == list(range(v0 + 1, v0 + 1 + len(mutating)))
        status = c.status().result
        assert status["kill"]["symbol"] == {"AAPL": "REDUCE_ONLY"}
        assert status["kill"]["venue"] == {"ARCA": "CANCEL_ONLY"}
        assert c.ha_status().ok
    with client(twin_core, "admin") as admin:
        assert admin.ha_promote("drill").ok and admin.ha_demote("drill").ok
    logged = [r for r in audit_records(twin_core.home) if r["result"] == "ok"]
    assert len(logged) == len(mutating) + 2  # successful reads are not audited
    assert all(r["operator"] == "jdoe" and r["state_version"] for r in logged)


def test_retry_when_first_attempt_is_unanswered_then_command_applied_once(twin_core: TwinHandle) -> None:
    with client(twin_core, timeout_ms=150, retries=40) as c:
        before = c.status().state_version
        sent = c.sends
        result: dict[str, object] = {}
        pid = twin_core.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the core holds the first attempt unread
        try:
            worker = threading.Thread(
                target=lambda: result.update(reply=c.set_kill("firm", None, "HALTED", "retry")))
            worker.start()
            wait_until(lambda: c.sends >= sent + 2)  # the first attempt's socket was given up on
        finally:
            os.kill(pid, signal.SIGCONT)
        worker.join(10)
        reply = result["reply"]
        assert isinstance(reply, Reply) and reply.ok
        assert reply.state_version == before + 1
        assert c.status().state_version == before + 1  # applied exactly once
    rec = [r for r in audit_records(twin_core.home) if r["command"] == "set_kill"]
    assert len(rec) == 1 and rec[0]["result"] == "ok" and rec[0]["attempts"] >= 2


def test_kill_when_core_has_not_replied_yet_then_its_sent_line_is_already_on_disk(twin_core: TwinHandle) -> None:
    pid = twin_core.pid
    assert pid is not None
    result: dict[str, object] = {}
    with client(twin_core, timeout_ms=10_000, retries=0) as c:
        os.kill(pid, signal.SIGSTOP)  # the core holds the command unread: no outcome can exist yet
        try:
            worker = threading.Thread(
                target=lambda: result.update(reply=c.set_kill("firm", None, "HALTED", "write-ahead check")))
            worker.start()
            wait_until(lambda: bool(audit_records(twin_core.home)))
            assert c.audit is not None
            wait_until(lambda: c.audit.pending_lines() == 0)  # type: ignore[union-attr]
            (pending,) = audit_records(twin_core.home)
            assert pending["result"] == UNRECORDED and pending["phase"] == SENT
            assert (pending["operator"], pending["reason"], pending["command"]) == ("jdoe", "write-ahead check",
                                                                                   "set_kill")
        finally:
            os.kill(pid, signal.SIGCONT)
        worker.join(10)
    assert isinstance(result.get("reply"), Reply)
    (done,) = audit_records(twin_core.home)
    assert done["result"] == "ok" and done["id"] == pending["id"] and done["ts_ns"] == pending["ts_ns"]
    raw = [orjson.loads(x) for x in default_path(twin_core.home).read_bytes().splitlines()]
    assert [(x["phase"], x["id"]) for x in raw] == [(SENT, done["id"]), ("outcome", done["id"])]


def test_same_idempotency_key_when_sent_twice_then_second_replays_first(twin_core: TwinHandle) -> None:
    with client(twin_core) as c:
        first = c.set_kill("account", "PROP02", "HALTED", "INC-7", idempotency_key="INC-7:kill")
        again = c.set_kill("account", "PROP02", "HALTED", "INC-7", idempotency_key="INC-7:kill")
        assert first.id == again.id
        assert again.state_version == first.state_version == c.status().state_version


def test_call_when_core_is_down_then_no_ack_after_every_attempt_and_audited(twin_core: TwinHandle) -> None:
    twin_core.stop()
    with client(twin_core, timeout_ms=100, retries=2) as c:
        with pytest.raises(NoAckError) as err:
            c.set_kill("firm", None, "HALTED", "core down")
        assert err.value.attempts == 3 and c.sends == 3
    (rec,) = audit_records(twin_core.home)
    assert rec["result"] == "no_ack" and rec["attempts"] == 3 and rec["state_version"] is None


def test_monitor_key_when_it_kills_then_role_denied_and_audited_as_refused(twin_core: TwinHandle) -> None:
    with client(twin_core, "monitor") as c:
        before = c.status().state_version
        with pytest.raises(RoleDeniedError) as err:
            c.set_kill("firm", None, "HALTED", "not allowed")
        assert err.value.code == "AUTH_ROLE_DENIED"
        assert c.status().state_version == before
        assert c.status().result["trading_state"] == "ACTIVE"
    (rec,) = audit_records(twin_core.home)
    assert (rec["result"], rec["code"], rec["identity"], rec["role"]) == ("refused", "AUTH_ROLE_DENIED", "monitor",
                                                                        "monitor")


def test_refused_command_when_args_invalid_then_command_error_with_code(twin_core: TwinHandle) -> None:
    with client(twin_core) as c, pytest.raises(CommandError) as err:
        c.set_kill("account", "NOT-AN-ACCOUNT-KEY", "HALTED", "bad key")
    assert err.value.code == "MSG_ARGS_INVALID" and not isinstance(err.value, RoleDeniedError)


def test_unknown_key_when_it_calls_then_auth_refused_and_failure_counted(twin_core: TwinHandle) -> None:
    zmq.auth.create_certificates(str(twin_core.keys_dir / "clients"), "stranger")  # not in roles.json
    with client(twin_core, "stranger", timeout_ms=2000, retries=3) as c:
        with pytest.raises(AuthRefusedError) as err:
            c.status()
        assert isinstance(err.value, NoAckError)
        assert c.auth_failures >= 1
        assert err.value.attempts == 1  # a refused key is not retried: no retry can fix it
    (rec,) = audit_records(twin_core.home)
    assert (rec["result"], rec["code"], rec["command"]) == ("no_ack", "AUTH_UNKNOWN_KEY", "status")



class HeldFlushAudit(AuditLog):
    """The real audit log whose group-commit thread never gets to run: what is durable when a call returns
    is then only what the call itself waited for."""

    def _ask(self, *, urgent: bool) -> None:
        pass


def test_loosening_when_acked_then_its_sent_line_was_durable_before_the_call_returned(twin_core: TwinHandle,
                                                                                      tmp_path: Path) -> None:
    audit = HeldFlushAudit(tmp_path / "control.jsonl")
    with client(twin_core, audit=audit) as c:
        c.set_kill("firm", None, "HALTED", "before the resume")
        c.set_kill("firm", None, "ACTIVE", "resume: acked only once durable")
        written, synced = audit.generations()
    # The resume's outcome line is the last written; its sent line, one before it, was on disk when the call
    # returned: a loosening outcome waits for the write-ahead line.
    assert (written, synced) == (4, 3)


def test_kill_when_the_core_finds_it_loosening_then_its_sent_line_was_durable_before_the_call_returned(
        twin_core: TwinHandle, tmp_path: Path) -> None:
    audit = HeldFlushAudit(tmp_path / "control.jsonl")
    with client(twin_core, audit=audit) as c:
        c.set_kill("firm", None, "HALTED", "halt")
        # A kill level below the current one loosens: the client guessed tightening (sent line written after
        # the frame left, no flush asked), the durable ack corrects it before the call returns.
        reply = c.set_kill("firm", None, "REDUCE_ONLY", "step down: a loosening")
        assert reply.durable
        assert audit.generations() == (4, 3)  # halt sent + outcome, step-down sent durable, its outcome lazy
        c.set_kill("firm", None, "ACTIVE", "reset")


def test_kill_when_acked_then_its_outcome_line_is_timed_as_of_the_reply(twin_core: TwinHandle,
                                                                        tmp_path: Path) -> None:
    audit = HeldFlushAudit(tmp_path / "control.jsonl")
    with client(twin_core, audit=audit) as c:
        t0 = time.time_ns()
        c.set_kill("firm", None, "REDUCE_ONLY", "tightening: outcome line built later")
        t1 = time.time_ns()
        outcome = c.last_outcome
        c.set_kill("firm", None, "ACTIVE", "reset")
    audit.close()
    raw = [orjson.loads(x) for x in (tmp_path / "control.jsonl").read_bytes().splitlines()]
    (sent,) = [x for x in raw if x.get("reason") == "tightening: outcome line built later"]
    first = [x for x in raw if x["id"] == sent["id"]]
    assert [x["phase"] for x in first] == [SENT, "outcome"]
    assert outcome is not None and first[1]["ts_ns"] == outcome.applied_ns and t0 <= first[1]["ts_ns"] <= t1
    assert 0 < first[1]["elapsed_ms"] <= (t1 - t0) / 1e6


def test_kill_when_acked_before_durable_then_the_caller_is_not_held_by_the_audit_flush(twin_core: TwinHandle,
                                                                                       tmp_path: Path) -> None:
    audit = HeldFlushAudit(tmp_path / "control.jsonl")
    with client(twin_core, audit=audit) as c:
        reply = c.set_kill("firm", None, "REDUCE_ONLY", "tightening: applied ack")
        assert reply.ok and not reply.durable
        assert audit.generations() == (2, 0)  # sent + outcome written, neither flush waited for
        c.set_kill("firm", None, "ACTIVE", "reset")
    audit.close()  # close flushes what is left
    recs = read_audit(tmp_path / "control.jsonl").records
    assert [(r["reason"], r["result"]) for r in recs] == [("tightening: applied ack", "ok"), ("reset", "ok")]


def test_kill_when_acked_then_the_audit_group_commit_flushes_its_lines(twin_core: TwinHandle) -> None:
    with client(twin_core) as c:
        assert c.set_kill("firm", None, "REDUCE_ONLY", "tightening: applied ack").ok
        assert c.audit is not None
        audit = c.audit
        wait_until(lambda: audit.generations()[1] == audit.generations()[0])
        c.set_kill("firm", None, "ACTIVE", "reset")
