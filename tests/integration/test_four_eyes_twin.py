"""Four eyes at the core: the twin checks an approval record's MAC and rules before a raise is applied, and
`corectl limits set` refuses a raise without one (exit 8, nothing sent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core_bridge.approvals import make_approval
from core_bridge.protocol import Command
from hw.twin.launch import TwinHandle
from tests.fixtures.twin import curve_dealer, rpc

CORECTL = str(Path(sys.executable).with_name("corectl"))


def _set(handle: TwinHandle, sender: str, limits: dict[str, Any], approval: dict[str, Any] | None,
         until_ns: int | None, account: str | None = "PROP02") -> Any:
    s = curve_dealer(handle, sender)
    try:
        args: dict[str, Any] = {"account": account, "limits": limits, "approver": "R. Risk", "until_ns": until_ns}
        if approval is not None:
            args["approval"] = approval
        return rpc(s, Command.SET_LIMITS, args)
    finally:
        s.close(0)


def _approval(handle: TwinHandle, identity: str, limits: dict[str, Any], until_ns: int | None,
              account: str | None = "PROP02") -> dict[str, Any]:
    return make_approval(handle.keys_dir, identity, approver="R. Risk", account=account, limits=limits,
                         until_ns=until_ns, reason="test", now_ns=time.time_ns())


@pytest.mark.parametrize(("case", "sender", "approver", "permanent", "code"), [
    ("second identity, temporary", "operator", "admin", False, "OK"),
    ("admin approves a permanent raise", "operator", "admin", True, "OK"),
    ("approved by the sender's own key", "operator", "operator", False, "LIMIT_APPROVAL_INVALID"),
    ("permanent approved by an operator", "admin", "operator", True, "LIMIT_APPROVAL_INVALID"),
    ("record altered after signing", "operator", "admin", False, "LIMIT_APPROVAL_INVALID"),
    ("record for another change", "operator", "admin", False, "LIMIT_APPROVAL_INVALID"),
])
def test_set_limits_when_approval_given_then_core_checks_it(twin_core_module: TwinHandle, case: str, sender: str,
                                                            approver: str, permanent: bool, code: str) -> None:
    qty = 11_000 + len(case)  # a fresh value per case: each one is a raise over the firm's 10 000
    until = None if permanent else time.time_ns() + 600_000_000_000
    rec = _approval(twin_core_module, approver, {"max_order_qty": qty}, until)
    if case == "record altered after signing":
        rec["limits"] = {"max_order_qty": qty + 1}
    sent = {"max_order_qty": qty + 1} if case.startswith("record") else {"max_order_qty": qty}
    rep = _set(twin_core_module, sender, sent, rec, until)
    assert (rep.code or "OK") == code, rep
    if code == "OK":
        assert rep.result["approved_by"] == approver and rep.result["limits"]["max_order_qty"] == qty


def test_corectl_raise_when_no_approval_then_exit_8_and_nothing_sent(twin_core: TwinHandle, tmp_path: Path) -> None:
    env = dict(os.environ, COLO_OPS_OPERATOR="jdoe")

    def corectl(*args: str) -> tuple[int, Any]:
        out = subprocess.run([CORECTL, *args, "--json"], capture_output=True, text=True, env=env, timeout=60)
        return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None

    before = twin_core.call(Command.STATUS).result["limits_version"]
    code, doc = corectl("limits", "set", "max_order_qty=20000", "--approver", "me", "--reason", "x", "--until",
                        "+10m")
    assert code == 8 and doc["error"] == "four_eyes" and doc["raised"] == ["max_order_qty"]
    # a decrease needs no approval
    code, doc = corectl("limits", "set", "max_order_qty=9000", "--approver", "me", "--reason", "tighten")
    assert code == 0 and doc["limits_version"] == before + 1
    assert twin_core.call(Command.STATUS).result["limits_version"] == before + 1
