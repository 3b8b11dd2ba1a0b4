"""What every HA drill measures and checks: the DrillResult, probes and traffic against the rig, the
failover timing (detect, accept, gap-free) and the final checks (0 lost, 0 duplicated, state identical)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core_bridge.audit import read_audit
from core_bridge.errors import BridgeError
from flows.ha import checks
from flows.ha.rig import POLL_S, DrillRig, Timeline
from hw.hosts import CommandResult
from hw.refdata import SECURITIES_BY_SYMBOL

DEADLINE_S = 10.0


@dataclass
class DrillResult:
    scenario: str
    ok: bool = True
    fault_method: str = ""  # sigkill | link_down | sigstop | second_primary
    fault_note: str = ""  # e.g. why primary_network fell back to sigstop
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.ok = False
        self.failures.append(why)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ helpers
def _probe(rig: DrillRig, n: int) -> None:
    """A command that needs the active node and changes nothing (firm level set to what it is)."""
    rig.client.set_kill("firm", None, "ACTIVE", "ha drill probe", idempotency_key=f"probe-{n}-{time.time_ns()}")


def _traffic(rig: DrillRig, i: int) -> list[int]:
    """State changes and resting orders before a fault (so there is state to compare and orders in flight)."""
    c = rig.client
    c.set_bp({"PROP01": str(10_000_000 + i)}, time.time_ns(), "drill bp", idempotency_key=f"bp-{i}")
    c.set_kill("symbol", "MSFT", "HALTED" if i % 2 else "ACTIVE", "drill kill", idempotency_key=f"ks-{i}")
    ref = SECURITIES_BY_SYMBOL["AAPL"].ref_price
    px = f"{(ref * 97 // 100) / 10_000:.2f}"
    orders = [{"clordid": 1_000_000 * (i + 1) + k, "account": "PROP01", "symbol": "AAPL", "side": "BUY",
               "qty": 100 + k, "price": px} for k in range(3)]
    rep = c.submit_orders(orders, "drill resting orders", idempotency_key=f"rest-{i}")
    return [int(r["order_id"]) for r in rep.result["results"] if r["ok"]]


def _watch_peer_lost(rig: DrillRig, survivor: str, tl: Timeline, out: dict[str, float]) -> threading.Thread:
    def run() -> None:
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            st = rig.node(survivor).ha_status(timeout_s=0.5)
            if st is not None and not st.get("peer_alive"):
                out["detect_ms"] = tl.mark(f"{survivor} detects peer lost")
                return
            time.sleep(POLL_S)

    t = threading.Thread(target=run, name="ha-detect", daemon=True)
    t.start()
    return t


def failover(rig: DrillRig, victim: str, sig: str, res: DrillResult, n: int) -> None:
    """Fault `victim` with kill -<sig> over SSH and measure detect / accept / gap-free on the survivor."""
    pid = rig.ssh[victim].twin_pid()
    if pid is None:
        res.fail(f"no twin pid on {victim}'s host")
        return
    fault_and_measure(rig, victim, f"kill -{sig} {victim} (pid {pid}) over SSH",
                      lambda: rig.ssh[victim].kill(pid, sig), res, n)


def fault_and_measure(rig: DrillRig, victim: str, label: str, inject: Callable[[], CommandResult],
                      res: DrillResult, n: int) -> Timeline | None:
    """Run `inject` (one SSH command on the victim's host), then measure detect / accept / gap-free on the
    survivor, in ms from the moment the command returned. Returns the drill's timeline (later events can be
    marked on it), None when the fault could not be injected."""
    survivor = rig.other(victim)
    tl = Timeline()
    seen: dict[str, float] = {}
    tl.start()
    out = inject()
    tl.t0 = time.monotonic()  # the fault is in place once the SSH command returned
    tl.events.append((0.0, label))
    if not out.ok:
        res.fail(f"{label}: rc {out.rc} {out.stderr.strip()}")
        res.timeline.extend(tl.events)
        return None
    watcher = _watch_peer_lost(rig, survivor, tl, seen)
    try:
        _probe(rig, n)
        res.metrics["accept_ms"] = tl.mark(f"{survivor} accepts commands")
    except BridgeError as exc:
        res.fail(f"no node accepted a command after the fault: {exc}")
        res.timeline.extend(sorted(tl.events))
        return tl
    if rig.wait_gap_free(survivor, DEADLINE_S):
        res.metrics["gap_free_ms"] = tl.mark("journal gap-free")
    else:
        res.fail("journal not gap-free within the deadline")
    watcher.join(DEADLINE_S)
    res.metrics["detect_ms"] = seen.get("detect_ms")
    if res.metrics["detect_ms"] is None:
        res.fail(f"{survivor} never reported its peer lost")
    res.timeline.extend(sorted(tl.events))
    return tl


def final_checks(rig: DrillRig, res: DrillResult, *, upto_takeover: bool = True) -> None:
    """Stop the capture, then compare the journal with both nodes' logs and check orders in flight."""
    rig.stop_capture()
    journal = rig.journal_records()
    stream = checks.check_stream(journal, rig.node_logs())
    res.checks["stream"] = stream.to_dict()
    if not stream.ok:
        res.fail(f"journal vs node logs: {stream.to_dict()}")
    tp = checks.takeover_point(journal)
    if upto_takeover and tp is not None:
        open_orders = checks.unresolved_orders(journal, (tp[0], tp[1] - 1))
        res.checks["unresolved_in_flight"] = len(open_orders)
        if open_orders:
            res.fail(f"{len(open_orders)} orders working at the takeover never resolved")
    res.refusals = split_brain_refusals(rig.audit_path)


def split_brain_refusals(audit_path: Path) -> list[dict[str, Any]]:
    """The audit log's HA_SPLIT_BRAIN refusals (who asked what, where, when)."""
    out = []
    for rec in read_audit(audit_path).records:
        if rec.get("code") == "HA_SPLIT_BRAIN":
            out.append({k: rec.get(k) for k in ("utc", "operator", "identity", "command", "endpoint", "code",
                                               "message")})
    return out


def _compare_state(rig: DrillRig, before: dict[str, Any], after_node: str, res: DrillResult,
                   keys: tuple[str, ...] = checks.STATE_KEYS) -> None:
    after = rig.snapshot(after_node)
    diff = checks.state_differences(before, after, keys)
    res.checks["state_differences"] = diff
    if diff:
        res.fail(f"state differs on the new active: {diff}")


