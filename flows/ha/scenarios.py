"""HA drill scenarios: inject one fault on a host over SSH, measure the failover, check the outcome.

Each scenario returns a DrillResult with
- metrics (ms from the fault, the moment the SSH fault command returned): `detect_ms` (the surviving node
  reports its peer lost), `accept_ms` (a client following the active node gets an ack), `gap_free_ms` (the
  capture's journal holds everything the active node has sequenced);
- checks: the journal against the union of both nodes' event logs (0 lost, 0 duplicated), the replicated
  state identical on the new active, orders working at the fault resolved, commands applied once;
- a timeline (ms, label) for the report's chart and any split-brain refusals seen in the audit log;
- `fault_method`: how the fault was injected (sigkill, link_down, sigstop, second_primary).

Scenarios: primary_crash (kill -9), primary_network (the primary's trading network cut, then healed: the old
primary keeps running cut off, must sequence nothing, and must come back passive and fenced), standby_crash
(kill -9 of the passive: the active goes on degraded; the standby is restarted and resyncs), burst_crash
(kill -9 of the primary during a burst of orders), second_primary (a second primary started on the primary's
host is refused; ha_promote of the passive is refused; both audited).

primary_network runs its pair in network namespaces (hw.netns) when this machine allows it and the hosts are
the rig's own (no inventory): the fault is `ip link set dev <primary's root-side veth> down` over SSH on the
primary's host and the heal `up` (`fault_method` "link_down"). Otherwise it falls back to `kill -STOP` /
`kill -CONT` of the primary twin over SSH (`fault_method` "sigstop", `fault_note` says why). Every other
scenario runs on loopback: a kill -9 or a second process needs no network isolation.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core_bridge.errors import BridgeError
from core_bridge.protocol import EVENT_SIZE
from flows.ha import checks
from flows.ha.measure import (
    DEADLINE_S,
    DrillResult,
    _compare_state,
    _probe,
    _traffic,
    _watch_peer_lost,
    failover,
    fault_and_measure,
)
from flows.ha.rig import POLL_S, DrillRig, Timeline
from hw.hosts import CommandResult, SshHost
from hw.refdata import SECURITIES_BY_SYMBOL
from hw.twin.launch import free_ports, twin_request


# ------------------------------------------------------------------------------------------------ scenarios
def primary_crash(rig: DrillRig, res: DrillResult, n: int = 0) -> None:
    res.fault_method = "sigkill"
    active = rig.pair.active()
    victim = active.node if active is not None else "primary"
    _traffic(rig, n)
    rig.wait_synced(rig.other(victim), victim)
    before = rig.snapshot(victim)
    failover(rig, victim, "KILL", res, n)
    _compare_state(rig, before, rig.other(victim), res)


def _mark(res: DrillResult, tl: Timeline, label: str) -> float:
    ms = tl.mark(label)
    res.timeline.append((ms, label))
    return ms


def _event_log_bytes(rig: DrillRig, node: str) -> int:
    """Bytes in the node's event log files, read on its host over SSH (no network path to the node needed)."""
    return sum(rig.ssh[node].file_sizes(rig.node(node).state_dir / "events", "epoch-*.evt").values())


def primary_network(rig: DrillRig, res: DrillResult) -> None:
    """Cut the primary's trading network (link down; fallback kill -STOP), let the standby take over, heal,
    and check the old primary comes back passive and fenced having sequenced nothing while cut off."""
    host = rig.ssh["primary"]
    if not res.fault_method:
        res.fault_method = "link_down" if rig.net is not None else "sigstop"
    _traffic(rig, 0)
    rig.wait_synced("standby", "primary")
    before = rig.snapshot("primary")
    pid = host.twin_pid()
    if pid is None:
        res.fail("no twin pid on the primary's host")
        return
    log_before = _event_log_bytes(rig, "primary")
    if rig.net is not None:
        link = rig.net.links["primary"]
        res.checks["trading_network"] = {"subnet": str(rig.net.subnet),
                                         **{n: rig.net.address(n) for n in rig.net.links}}
        where = host.run(f"ip netns identify {pid}").stdout.strip()
        res.checks["old_primary_netns"] = where
        if where != link.netns:
            res.fail(f"the primary twin (pid {pid}) runs in namespace {where!r}, not {link.netns!r}")
            return
        dev = link.root_if
        label = f"ip link set dev {dev} down on {host.host.name} over SSH (primary's trading network cut)"

        def fault() -> CommandResult:
            return host.set_link(dev, up=False)

        def heal() -> CommandResult:
            return host.set_link(dev, up=True)
        heal_label = f"ip link set dev {dev} up over SSH (network healed)"
    else:
        label = f"kill -STOP primary (pid {pid}) over SSH (network loss simulated: {res.fault_note or 'no netns'})"

        def fault() -> CommandResult:
            return host.kill(pid, "STOP")

        def heal() -> CommandResult:
            return host.kill(pid, "CONT")
        heal_label = f"kill -CONT primary (pid {pid}) over SSH (network healed)"
    tl = fault_and_measure(rig, "primary", label, fault, res, 0)
    if tl is None:
        return
    try:
        _compare_state(rig, before, "standby", res)
        # While cut off: the old primary is still running (not stopped), nobody in the root namespace reaches
        # it, and it sequences nothing on its side (its event log, read on its host, does not grow).
        state = host.proc_state(pid)
        res.checks["old_primary_proc_state_during_cut"] = state
        if state is None or state == "Z":
            res.fail("the old primary's process died during the network cut")
        elif res.fault_method == "link_down" and state in ("T", "t"):
            res.fail("the old primary was stopped (state T) instead of cut off")
        rep = twin_request(rig.node("primary").endpoints["control"], rig.pair.keys_dir, "status",
                           identity="monitor", timeout_s=0.3)
        res.checks["old_primary_reachable_during_cut"] = rep is not None
        if rep is not None:
            res.fail("the old primary answered a request during the cut")
        grown = _event_log_bytes(rig, "primary") - log_before
        res.checks["old_primary_events_during_cut"] = grown // EVENT_SIZE
        if grown:
            res.fail(f"the old primary sequenced {grown // EVENT_SIZE} events while cut off")
    finally:
        out = heal()
        _mark(res, tl, heal_label)
    if not out.ok:
        res.fail(f"{heal_label}: rc {out.rc} {out.stderr.strip()}")
        return
    t = time.monotonic()
    try:
        st = rig.node("primary").wait_ha("passive", DEADLINE_S)
    except Exception as exc:
        res.fail(f"old primary did not come back passive after the network healed: {exc}")
        return
    res.metrics["heal_fenced_ms"] = round((time.monotonic() - t) * 1000, 1)
    _mark(res, tl, "old primary passive again")
    res.checks["old_primary_fenced"] = bool(st.get("fenced"))
    if not st.get("fenced"):
        res.fail("old primary came back without being fenced")
    res.checks["old_primary_pid_kept"] = host.twin_pid() == pid and host.proc_state(pid) not in (None, "Z")
    if not res.checks["old_primary_pid_kept"]:
        res.fail("the old primary is not the same running process after the heal")
    _probe(rig, 1)
    rig.wait_gap_free("standby", DEADLINE_S)
    rig.wait_synced("primary", "standby")


def standby_crash(rig: DrillRig, res: DrillResult) -> None:
    res.fault_method = "sigkill"
    _traffic(rig, 0)
    rig.wait_synced("standby", "primary")
    before = rig.snapshot("primary")
    pid = rig.ssh["standby"].twin_pid()
    if pid is None:
        res.fail("no twin pid on the standby's host")
        return
    tl = Timeline()
    seen: dict[str, float] = {}
    rig.ssh["standby"].kill(pid, "KILL")
    tl.start()
    tl.events.append((0.0, f"kill -KILL standby (pid {pid}) over SSH"))
    watcher = _watch_peer_lost(rig, "primary", tl, seen)
    _probe(rig, 0)
    res.metrics["accept_ms"] = tl.mark("primary accepts commands (alone, degraded)")
    if rig.wait_gap_free("primary", DEADLINE_S):
        res.metrics["gap_free_ms"] = tl.mark("journal gap-free")
    watcher.join(DEADLINE_S)
    res.metrics["detect_ms"] = seen.get("detect_ms")
    _compare_state(rig, before, "primary", res)
    rig.node("standby").restart()
    rig.node("standby").wait_ha("passive", DEADLINE_S)
    synced = rig.wait_synced("standby", "primary")
    res.metrics["standby_resync_ms"] = tl.mark("standby back, passive and in sync")
    res.checks["standby_resynced"] = synced
    if not synced:
        res.fail("restarted standby did not catch up with the primary")
    res.timeline.extend(sorted(tl.events))


def burst_crash(rig: DrillRig, res: DrillResult, *, batches: int = 40, kill_after: int = 12) -> None:
    res.fault_method = "sigkill"
    ref = SECURITIES_BY_SYMBOL["AAPL"].ref_price
    sent: list[int] = []
    errors: list[str] = []
    killed = threading.Event()
    progress = threading.Semaphore(0)

    def burst() -> None:
        c = rig.new_client("operator")
        try:
            for b in range(batches):
                orders = []
                for k in range(10):
                    cl = 5_000_000 + b * 10 + k
                    px = ref if k % 3 == 0 else ref * 97 // 100  # a third marketable (fills), the rest rest
                    orders.append({"clordid": cl, "account": "PROP02", "symbol": "AAPL", "side": "BUY",
                                   "qty": 100 + k, "price": f"{px / 10_000:.2f}"})
                try:
                    c.submit_orders(orders, "drill burst", idempotency_key=f"burst-{b}")
                    sent.extend(o["clordid"] for o in orders)  # type: ignore[misc]
                except BridgeError as exc:
                    errors.append(str(exc))
                progress.release()
        finally:
            c.close()

    t = threading.Thread(target=burst, name="ha-burst", daemon=True)
    t.start()
    for _ in range(kill_after):
        progress.acquire(timeout=DEADLINE_S)
    killed.set()
    failover(rig, "primary", "KILL", res, 0)
    t.join(DEADLINE_S * 3)
    res.metrics["orders_sent"] = len(sent)
    res.checks["submit_errors"] = len(errors)
    if errors:
        res.fail(f"{len(errors)} order batches not acknowledged: {errors[:2]}")
    rig.wait_gap_free("standby", DEADLINE_S)
    rig.stop_capture()
    per = checks.new_orders_per_clordid(rig.journal_records(), sent)
    not_once = {c: k for c, k in per.items() if k != 1}
    res.checks["orders_not_applied_once"] = len(not_once)
    if not_once:
        res.fail(f"{len(not_once)} orders not applied exactly once, e.g. {list(not_once.items())[:3]}")


def second_primary(rig: DrillRig, res: DrillResult) -> None:
    res.fault_method = "second_primary"
    host = rig.ssh["primary"]
    home = rig.root / "primary-host-2"
    shutil.copytree(rig.node("primary").keys_dir, home / "keys", dirs_exist_ok=True)
    ports = free_ports(5)
    standby_ha = rig.node("standby").ha_endpoint
    assert standby_ha is not None
    tl = Timeline()
    tl.start()
    control = f"tcp://127.0.0.1:{ports[0]}"
    try:
        out = host.start_twin(home, "primary", ports[:4], ports[4], standby_ha, home / "keys")
        tl.mark("second primary started over SSH on the primary's host")
        if not out.ok:
            res.fail(f"could not start the second primary: {out.stderr.strip()}")
            return
        end = time.monotonic() + DEADLINE_S
        refused = None
        while time.monotonic() < end:
            rep = twin_request(control, home / "keys", "ha_status", identity="monitor", timeout_s=0.3)
            if rep is not None and rep.ok and rep.result.get("split_brain_refusals", 0) >= 1:
                refused = rep.result
                break
            time.sleep(POLL_S * 4)
        if refused is None:
            res.fail("the second primary was never refused by the pair")
            return
        tl.mark("pair refuses the second primary (HA_SPLIT_BRAIN)")
        res.checks["second_primary_state"] = refused.get("state")
        c = rig.new_client("operator", [control], timeout_ms=500, retries=1)
        try:
            c.set_kill("firm", None, "ACTIVE", "drill: command to a second primary")
            res.fail("the second primary accepted a command")
        except BridgeError as exc:
            res.checks["second_primary_command"] = getattr(exc, "code", str(exc))
            tl.mark(f"command to the second primary refused: {getattr(exc, 'code', exc)}")
        finally:
            c.close()
        admin = rig.new_client("admin", [rig.node("standby").endpoints["control"]], timeout_ms=500, retries=1)
        try:
            admin.ha_promote("drill: promote the passive while the primary is active")
            res.fail("ha_promote of the passive was accepted while the primary is active")
        except BridgeError as exc:
            res.checks["promote_passive"] = getattr(exc, "code", str(exc))
            tl.mark(f"ha_promote of the passive refused: {getattr(exc, 'code', exc)}")
        finally:
            admin.close()
        act = rig.pair.active()
        res.checks["active_after"] = act.node if act is not None else None
        if act is not rig.node("primary"):
            res.fail("the pair's active node changed during the split-brain attempt")
    finally:
        _stop_second_primary(host, home)
        res.timeline.extend(sorted(tl.events))


def _stop_second_primary(host: SshHost, home: Path) -> None:
    """Stop the drill's second primary over SSH (by its endpoint file) and wait until it is gone."""
    end = time.monotonic() + DEADLINE_S / 2
    pid = host.twin_pid(home, "primary")
    while pid is None and time.monotonic() < end:  # still starting: its endpoint file comes once it is bound
        time.sleep(POLL_S * 10)
        pid = host.twin_pid(home, "primary")
    if pid is not None:
        host.kill(pid, "TERM")
        while time.monotonic() < end and host.run(f"kill -0 {pid}").ok:
            time.sleep(POLL_S * 4)


RUNNERS: dict[str, Callable[[DrillRig, DrillResult], None]] = {
    "primary_crash": primary_crash,
    "primary_network": primary_network,
    "standby_crash": standby_crash,
    "burst_crash": burst_crash,
    "second_primary": second_primary,
}


