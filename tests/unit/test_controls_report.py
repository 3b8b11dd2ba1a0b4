"""The daily 15c3-5 controls report from a real journal and a real audit log: every figure traced to its
records, the sources' hashes stated, and a re-run byte-identical."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core_bridge.audit import AuditLog, AuditRecord
from core_bridge.journal.writer import Journal
from core_bridge.protocol import EVENT_DTYPE, EventType, KillLevel, Side, to_fixed
from core_bridge.reasons import ReasonCode
from flows.controls.day import DayInputs, build_controls_day
from flows.controls.limits import LIMITS_FILE
from reports.controls import write_controls_report

DAY = dt.date(2026, 11, 20)  # a Friday session; New York is UTC-5


def utc_ns(hh: int, mm: int) -> int:
    return int(dt.datetime(2026, 11, 20, hh, mm, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


def _records() -> np.ndarray:
    rows: list[dict[str, Any]] = [
        {"ts": utc_ns(14, 31), "etype": EventType.ORDER_REJECTED, "reason": ReasonCode.LIMIT_PRICE_COLLAR, "qty": 100},
        {"ts": utc_ns(14, 32), "etype": EventType.ORDER_REJECTED, "reason": ReasonCode.LIMIT_MAX_QTY, "qty": 20_000},
        {"ts": utc_ns(14, 33), "etype": EventType.REPLACE_REJECTED, "reason": ReasonCode.LIMIT_PRICE_COLLAR,
         "qty": 100},
        {"ts": utc_ns(14, 34), "etype": EventType.ORDER_REJECTED, "reason": ReasonCode.LOCATE_UNAVAILABLE, "qty": 50,
         "side": Side.SHORT},
        {"ts": utc_ns(14, 35), "etype": EventType.ORDER_FILLED, "last_qty": 100, "last_px": to_fixed("230")},
        {"ts": utc_ns(14, 40), "etype": EventType.ORDER_FILLED, "last_qty": 40, "last_px": to_fixed("231"),
         "side": Side.SELL},
        {"ts": utc_ns(14, 50), "etype": EventType.LIMITS_CHANGED, "qty": 2, "account": b""},
        {"ts": utc_ns(15, 0), "etype": EventType.KILL_STATE_CHANGED, "qty": 1, "price": int(KillLevel.HALTED)},
        {"ts": utc_ns(15, 10), "etype": EventType.KILL_STATE_CHANGED, "qty": 1, "price": int(KillLevel.ACTIVE)},
        {"ts": utc_ns(15, 20), "etype": EventType.LIMITS_CHANGED, "qty": 3, "account": b""},
        {"ts": utc_ns(15, 30), "etype": EventType.LIMITS_CHANGED, "qty": 4, "account": b"PROP02"},
    ]
    recs = np.zeros(len(rows), dtype=EVENT_DTYPE)
    for i, r in enumerate(rows):
        recs[i]["seq"] = i + 1
        recs[i]["epoch"] = 1
        recs[i]["ts_ns"] = r["ts"]
        recs[i]["etype"] = r["etype"]
        recs[i]["reason"] = r.get("reason", 0)
        recs[i]["side"] = r.get("side", Side.BUY)
        recs[i]["account"] = r.get("account", b"PROP01")
        recs[i]["symbol"] = b"AAPL"
        recs[i]["qty"] = r["qty"] if "qty" in r else 100
        recs[i]["price"] = r.get("price", to_fixed("230"))
        recs[i]["last_qty"] = r.get("last_qty", 0)
        recs[i]["last_px"] = r.get("last_px", 0)
        recs[i]["order_id"] = 1000 + i
    return recs


def _audit(rid: str, ts: int, command: str, operator: str, args: dict[str, Any], identity: str = "operator",
           scope: str | None = None) -> AuditRecord:
    return AuditRecord(operator=operator, identity=identity, role=None, command=command, scope=scope, key=None,
                       reason=f"why {rid}", args=args, result="ok", code="OK", state_version=1, id=rid,
                       endpoint="tcp://127.0.0.1:17001", ts_ns=ts)


@pytest.fixture
def inputs(tmp_path: Path) -> DayInputs:
    with Journal.open(tmp_path / "journal") as j:
        j.append(_records())
        j.commit()
    log = AuditLog(tmp_path / "audit" / "control.jsonl")
    approval = {"identity": "admin", "approval_id": "a1"}
    for rec in [
        _audit("r1", utc_ns(14, 50), "set_limits", "jdoe", {"account": "PROP01", "limits": {"max_order_qty": 20_000},
                                                             "approver": "R. Risk", "until_ns": utc_ns(15, 20),
                                                             "approval": approval}),
        _audit("k1", utc_ns(15, 0), "set_kill", "riskwatch", {"scope": "account", "key": "PROP01", "level": "HALTED"},
               scope="account"),
        _audit("k2", utc_ns(15, 10), "set_kill", "jdoe", {"scope": "account", "key": "PROP01", "level": "ACTIVE"},
               scope="account"),
        _audit("r2", utc_ns(15, 30), "set_limits", "jdoe", {"account": "PROP02", "limits": {"max_orders_per_sec": 9000},
                                                             "approver": "me", "until_ns": None}),
        _audit("late", utc_ns(23, 59) + 3_600_000_000_000 * 6, "set_kill", "jdoe",  # the next day: not in the report
               {"scope": "firm", "key": None, "level": "HALTED"}),
    ]:
        log.append(rec)
    log.close()
    return DayInputs(day=DAY, journal_dir=tmp_path / "journal", audit_path=tmp_path / "audit" / "control.jsonl",
                     limits_file=LIMITS_FILE, controls_dir=tmp_path / "reports" / DAY.isoformat() / "controls",
                     home=tmp_path, roles={"admin": "admin", "operator": "operator"})


def test_controls_day_when_built_then_every_figure_comes_from_the_records(inputs: DayInputs) -> None:
    doc = build_controls_day(inputs)
    assert doc["limits"]["at_open"]["firm"]["max_order_qty"] == 10_000
    assert doc["limits"]["at_open"]["PROP04"]["max_order_notional"] == "250000"
    raise_, revert, unapproved = doc["limits"]["changes"]
    assert (raise_["kind"], raise_["before"], raise_["after"]) == ("raise", {"max_order_qty": 10_000},
                                                                   {"max_order_qty": 20_000})
    assert raise_["approver_identity"] == "admin" and raise_["expiry_utc"] == "2026-11-20T15:20:00.000000Z"
    assert (revert["kind"], revert["utc"], revert["after"]) == ("revert (automatic)", "2026-11-20T15:20:00.000000Z",
                                                                {"max_order_qty": 10_000})
    assert unapproved["permanent"] and doc["four_eyes_findings"][0]["id"] == "r2"
    assert not doc["summary"]["ok"]  # the unapproved permanent raise fails the four-eyes check
    halt, resume = doc["kills"]["events"]
    assert (halt["origin"], halt["level"], halt["duration_s"], halt["until_utc"]) == (
        "automatic", "HALTED", 600.0, "2026-11-20T15:10:00.000000Z")
    assert (resume["origin"], resume["operator"]) == ("manual", "jdoe")
    by = {r["control"]: r for r in doc["rejects"]["by_control"]}
    assert by["collar"]["count"] == 2 and by["collar"]["first_utc"] == "2026-11-20T14:31:00.000000Z"
    assert by["collar"]["last_utc"] == "2026-11-20T14:33:00.000000Z"
    assert by["size"]["count"] == 1 and by["locate"]["count"] == 1 and by["rate"]["count"] == 0
    assert by["collar"]["examples"][1]["event"] == "REPLACE_REJECTED"
    assert doc["exposure"]["firm"]["peak_gross"] == "23000"  # 100 AAPL at 230, before the partial sale
    assert doc["exposure"]["accounts"]["PROP01"]["peak_net_utc"] == "2026-11-20T14:35:00.000000Z"
    journal = next(s for s in doc["sources"] if s["name"] == "journal")
    assert journal["records"] == 11
    assert journal["sha256"] == hashlib.sha256(_records().tobytes()).hexdigest()
    assert next(s for s in doc["sources"] if s["name"] == "control audit log")["records"] == 4


def test_controls_report_when_rerun_for_the_same_date_then_byte_identical(inputs: DayInputs) -> None:
    first = [p.read_bytes() for p in write_controls_report(build_controls_day(inputs), inputs.controls_dir)]
    again = [p.read_bytes() for p in write_controls_report(build_controls_day(inputs), inputs.controls_dir)]
    assert first == again
    html = first[0].decode()
    assert "15c3-5 controls report — 2026-11-20" in html and "automatic revert" in html
    assert hashlib.sha256(_records().tobytes()).hexdigest() in html


def test_control_of_when_a_reject_is_a_limit_locate_or_kill_reason_then_it_is_never_other() -> None:
    from core_bridge.reasons import ReasonCode
    from flows.controls.inventory import OTHER, control_of

    prefixes = ("LIMIT_", "LOCATE_", "KILL_", "HALT_", "RESTRICTED_")
    command_refusals = {"LIMIT_APPROVAL_INVALID", "LIMIT_POLICY_EXCEEDED"}  # refuse a set_limits, not an order
    gated = [rc for rc in ReasonCode if rc.name.startswith(prefixes) and rc.name not in command_refusals]
    assert gated and [rc.name for rc in gated if control_of(rc) == OTHER] == []
    assert control_of(ReasonCode.LOCATE_PREBORROW_REQUIRED) == "locate"  # the Rule 204 penalty box
