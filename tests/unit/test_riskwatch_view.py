"""`corectl watch`'s risk-watcher part: each rule's state as the engine reports it (armed, confirming k/N,
tripped, cooling down), the figures per account, and a stale or missing status file said as such."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
from rich.console import Console

from core_bridge.riskwatch import view
from core_bridge.riskwatch.engine import Engine
from core_bridge.riskwatch.rules import parse_rules

NOW_NS = 1_800_000_000_000_000_000


def _rules_doc() -> dict[str, object]:
    base = {"metric": "reject_rate", "scope": "account", "comparison": ">", "threshold": 10, "confirm_readings": 4,
            "action": "CANCEL_ONLY"}
    return {"approver": "a", "reason": "b", "rule": [
        {**base, "name": "quiet", "key": "PROP03", "cooldown_s": 60},
        {**base, "name": "storm", "key": "PROP01", "cooldown_s": 60},
        {**base, "name": "tripped-long-ago", "key": "PROP02", "cooldown_s": 1},
        {**base, "name": "cooling", "key": "PROP04", "cooldown_s": 600},
    ]}


def _engine_states(now_s: float) -> list[dict[str, object]]:
    rs = parse_rules(_rules_doc())
    eng = Engine(rs)
    by = {r.name: r for r in rs.rules}
    eng.observe(by["quiet"], "PROP03", Decimal(1), now_s)
    for i in range(2):
        eng.observe(by["storm"], "PROP01", Decimal(99), now_s - 1 + i * 0.5)
    for i in range(4):
        eng.observe(by["tripped-long-ago"], "PROP02", Decimal(99), now_s - 100 + i * 0.5)
        eng.observe(by["cooling"], "PROP04", Decimal(99), now_s - 10 + i * 0.5)
    return eng.rule_states(now_s)


def _status(updated_ns: int) -> dict[str, object]:
    return {"updated_ns": updated_ns, "failsafe": "ok", "core": {"reachable": True}, "pending_trips": 0,
            "rules_state": _engine_states(NOW_NS / 1e9), "trips": [], "flattens": {"done": [
                {"rule": "storm", "key": "PROP01", "outcome": "partial", "still_open": ["PROP01 MSFT: position -5"]}]},
            "figures": {"events": 12, "firm": {"pnl": "-10.5"}, "accounts": {"PROP01": {"pnl": "-10.5",
                                                                                      "gross_exposure": "2300"}}}}


def test_view_when_the_watcher_runs_then_every_rule_state_is_shown() -> None:
    s = view.summary(_status(NOW_NS - 10**9), NOW_NS)
    shown = {r["rule"]: r["shown"] for r in s["rules"]}
    assert shown == {"quiet": "armed", "storm": "confirming 2/4", "tripped-long-ago": "tripped",
                     "cooling": "cooling down 591.5 s"}
    assert s["running"] and s["accounts"]["PROP01"]["gross_exposure"] == "2300" and s["accounts"]["firm"]["pnl"]
    console = Console(width=140, record=True)
    console.print(view.render(s))
    text = console.export_text()
    assert all(w in text for w in ("confirming 2/4", "cooling down", "tripped", "armed", "PROP01 MSFT: position -5"))


def test_view_when_the_status_is_old_or_missing_then_not_running(tmp_path: Path) -> None:
    path = tmp_path / "riskwatch.json"
    assert view.summary(view.read_status(path), NOW_NS)["running"] is False
    path.write_bytes(orjson.dumps(_status(NOW_NS - 60 * 10**9)))
    s = view.summary(view.read_status(path), NOW_NS)
    assert s["running"] is False and s["status_age_s"] == 60.0
    console = Console(width=140, record=True)
    console.print(view.render(s))
    assert "60.0 s old: not running" in console.export_text()
