"""The append-only control audit log: writing, reading with filters, torn lines."""

from __future__ import annotations

from pathlib import Path

import orjson

from core_bridge.audit import SENT, UNRECORDED, AuditLog, AuditQuery, AuditRecord, read_audit, utc_text
from tests.polling import wait_for


def _rec(command: str, operator: str, ts_ns: int, result: str = "ok") -> AuditRecord:
    return AuditRecord(operator=operator, identity="operator", role="operator", command=command, scope="firm",
                       key=None, reason="test", args={"scope": "firm"}, result=result, code="OK",
                       state_version=7, id=f"id-{ts_ns}", endpoint="tcp://127.0.0.1:1", ts_ns=ts_ns)


def test_append_when_records_written_then_read_back_in_order_with_utc(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "control.jsonl")
    log.append(_rec("set_kill", "jdoe", 1_763_800_000_000_000_000))
    log.append(_rec("set_limits", "asmith", 1_763_800_001_000_000_000, result="refused"))
    log.close()
    got = read_audit(tmp_path / "audit" / "control.jsonl")
    assert [r["command"] for r in got.records] == ["set_kill", "set_limits"]
    assert got.records[0]["utc"] == "2025-11-22T08:26:40.000000Z"
    assert got.records[1]["result"] == "refused"
    assert got.skipped_lines == []


def test_read_when_filters_given_then_only_matching_records(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    for i, (cmd, op) in enumerate([("set_kill", "jdoe"), ("set_kill", "asmith"), ("cancel_all", "jdoe")]):
        log.append(_rec(cmd, op, 1_000 + i))
    log.close()
    path = tmp_path / "a.jsonl"
    assert len(read_audit(path, AuditQuery(command="set-kill")).records) == 2
    assert [r["command"] for r in read_audit(path, AuditQuery(operator="jdoe")).records] == ["set_kill", "cancel_all"]
    assert [r["ts_ns"] for r in read_audit(path, AuditQuery(since_ns=1_001)).records] == [1_001, 1_002]
    assert [r["ts_ns"] for r in read_audit(path, AuditQuery(limit=1)).records] == [1_002]


def test_read_when_last_line_is_torn_then_it_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    log.append(_rec("set_kill", "jdoe", 5))
    log.close()
    with path.open("ab") as fh:
        fh.write(b'{"command": "set_ki')
    got = read_audit(path)
    assert len(got.records) == 1
    assert got.skipped_lines == [2]


def test_read_when_file_absent_then_empty(tmp_path: Path) -> None:
    got = read_audit(tmp_path / "none.jsonl")
    assert got.records == [] and got.skipped_lines == []


def test_utc_text_when_ns_then_microsecond_iso_with_z() -> None:
    assert utc_text(1_763_800_000_123_456_789) == "2025-11-22T08:26:40.123456Z"


def _sent(command: str, ts_ns: int, rid: str) -> AuditRecord:
    return AuditRecord(operator="jdoe", identity="operator", role="operator", command=command, scope="firm",
                       key=None, reason="halt", args={"scope": "firm"}, result=SENT, code=None, state_version=None,
                       id=rid, endpoint="tcp://127.0.0.1:1", phase=SENT, ts_ns=ts_ns)


def _outcome(command: str, ts_ns: int, rid: str, result: str = "ok") -> AuditRecord:
    return AuditRecord(operator="jdoe", identity="operator", role="operator", command=command, scope="firm",
                       key=None, reason="halt", args={"scope": "firm"}, result=result, code="OK", state_version=9,
                       id=rid, endpoint="tcp://127.0.0.1:1", elapsed_ms=0.6, ts_ns=ts_ns)


def test_read_when_sent_and_outcome_lines_then_one_record_per_attempt_at_the_send_time(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    log.append(_sent("set_kill", 10, "a"))
    log.append(_sent("cancel_all", 11, "b"))  # interleaved with another process's command
    log.append(_outcome("set_kill", 12, "a"))
    log.append(_outcome("cancel_all", 13, "b", result="refused"))
    log.close()
    got = read_audit(path).records
    assert [(r["id"], r["result"], r["ts_ns"], r["state_version"]) for r in got] == [("a", "ok", 10, 9),
                                                                                     ("b", "refused", 11, 9)]
    assert len(path.read_bytes().splitlines()) == 4


def test_read_when_outcome_line_missing_then_attempt_shown_unrecorded(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    log.append(_sent("set_kill", 10, "a"))
    log.close()
    (rec,) = read_audit(path).records
    assert rec["result"] == UNRECORDED and rec["operator"] == "jdoe" and rec["reason"] == "halt"


def test_read_when_same_id_sent_twice_then_two_attempts(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    for ts in (10, 20):
        log.append(_sent("set_kill", ts, "same"))
        log.append(_outcome("set_kill", ts + 1, "same"))
    log.append(_sent("set_kill", 30, "same"))  # a third attempt whose outcome never reached the disk
    log.close()
    got = read_audit(path).records
    assert [(r["ts_ns"], r["result"]) for r in got] == [(10, "ok"), (20, "ok"), (30, UNRECORDED)]


def test_append_lazy_when_no_further_write_then_background_flush_makes_it_durable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.append_lazy(_outcome("set_kill", 10, "a"))
    assert log.pending_lines() <= 1
    wait_for(lambda: log.pending_lines() == 0, timeout=5, what="the lazy flush")
    log.append_lazy(_outcome("set_kill", 11, "b"))
    log.close()  # close flushes whatever is left, then stops the flusher
    assert log.pending_lines() == 0
    assert [r["id"] for r in read_audit(tmp_path / "a.jsonl").records] == ["a", "b"]


def test_sync_soon_when_given_a_sent_line_then_the_flusher_makes_it_durable_without_a_caller(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    gen = log.write(_outcome("set_kill", 10, "a"))
    assert log.generations() == (1, 0)
    log.sync_soon(gen)
    wait_for(lambda: log.generations()[1] >= gen, timeout=5, what="the group commit of the sent line")
    log.close()
    assert [r["id"] for r in read_audit(tmp_path / "a.jsonl").records] == ["a"]


class _NoFlusher(AuditLog):
    """The real writer with its flusher thread never started: only what a caller does reaches the file."""

    def _ask(self, *, urgent: bool) -> None:
        pass


def test_write_later_when_a_line_is_written_after_it_then_the_queued_line_lands_first(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    log = _NoFlusher(path)
    built: list[str] = []

    def make() -> bytes:
        built.append("a")
        return _outcome("set_kill", 10, "a").to_json()

    assert log.write_later(make) == 1
    assert built == [] and not path.exists()  # nothing built or written on the caller's path
    assert log.write(_sent("set_kill", 20, "b")) == 2
    assert built == ["a"] and log.generations() == (2, 0)
    assert [orjson.loads(x)["id"] for x in path.read_bytes().splitlines()] == ["a", "b"]
    log.sync(upto=1)
    assert log.generations() == (2, 2)  # one flush covers everything written before it
    log.close()


def test_write_later_when_nothing_follows_then_the_flusher_writes_it_and_makes_it_durable(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.write_later(lambda: _outcome("set_kill", 10, "a").to_json())
    wait_for(lambda: log.pending_lines() == 0, timeout=5, what="the flusher's window")
    assert [r["id"] for r in read_audit(tmp_path / "a.jsonl").records] == ["a"]
    log.close()


def test_close_when_lines_are_queued_then_they_are_written_and_durable(tmp_path: Path) -> None:
    log = _NoFlusher(tmp_path / "a.jsonl")
    log.write_later(lambda: _outcome("set_kill", 10, "a").to_json())
    log.write_later(lambda: _outcome("set_kill", 11, "b").to_json())
    log.close()
    assert log.pending_lines() == 0
    assert [r["id"] for r in read_audit(tmp_path / "a.jsonl").records] == ["a", "b"]


def test_line_encoder_when_sent_then_ok_then_read_back_as_the_records_give(tmp_path: Path) -> None:
    import time

    from core_bridge.client.audit_trail import Attempt, LineEncoder, Outcome, attempt_record
    from core_bridge.protocol import Command, Reply

    att = Attempt(Command.SET_KILL, {"scope": "firm", "key": None, "level": "HALTED"}, "halt", "operator:ab12",
                  time.perf_counter())
    reply = Reply(id="operator:ab12", ok=True, code="OK", state_version=42, v=2, durable_version=41)
    outcome = Outcome(reply, 1, "tcp://127.0.0.1:7001", applied_ns=1_763_800_000_123_456_789)
    who = {"operator": "jdoe", "identity": "operator", "role": "operator", "endpoint": "tcp://127.0.0.1:7001"}
    lines = LineEncoder("jdoe", "operator", "operator")
    sent_line = lines.sent(att, who["endpoint"], 1_763_800_000_000_000_000)
    sent_rec = attempt_record(att, None, None, phase=SENT, **who)
    sent_rec.ts_ns = 1_763_800_000_000_000_000
    assert orjson.loads(sent_line) == orjson.loads(sent_rec.to_json())  # the whole sent line, built fast
    ok_line = LineEncoder.ok(att, outcome, 0.25, outcome.applied_ns or 0)
    assert len(ok_line) < len(sent_line)
    full = attempt_record(att, outcome, None, **who)
    full.elapsed_ms = 0.25
    path = tmp_path / "a.jsonl"
    path.write_bytes(sent_line + ok_line)
    (slim,) = read_audit(path).records
    path.write_bytes(sent_line + full.to_json())
    (whole,) = read_audit(path).records
    assert slim == whole  # a reader sees the same attempt either way
    assert slim["result"] == "ok" and slim["operator"] == "jdoe" and slim["reason"] == "halt"
