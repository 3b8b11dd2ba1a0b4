"""Run one HA drill scenario (or a series of crashes) on a rig: choose its network (namespaces or loopback),
build the rig, run, collect the result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flows.ha import checks
from flows.ha.measure import DEADLINE_S, DrillResult, final_checks
from flows.ha.rig import DrillRig
from flows.ha.scenarios import RUNNERS, primary_crash
from hw import netns
from hw.hosts import Host

SCENARIOS = ("primary_crash", "primary_network", "standby_crash", "burst_crash", "second_primary")


NETNS_SCENARIOS = frozenset({"primary_network"})  # the scenarios whose pair runs in network namespaces


def network_choice(name: str, hosts: dict[str, Host] | None, use_netns: bool | None) -> tuple[bool, str]:
    """(run this drill's pair in network namespaces?, why not). Only NETNS_SCENARIOS, only with the rig's own
    hosts (the fault sets a veth of this machine down), only where hw.netns.probe() says it works;
    `use_netns` False forces loopback, True insists (no probe)."""
    if name not in NETNS_SCENARIOS:
        return False, ""
    if use_netns is False:
        return False, "network namespaces not requested"
    if use_netns is None and hosts is not None:
        return False, "hosts from an inventory: the drill cannot cut their network from here"
    if use_netns is None:
        p = netns.probe()
        if not p.ok:
            return False, f"network namespaces unavailable: {p.reason}"
    return True, ""


def run_scenario(name: str, root: Path, hosts: dict[str, Host] | None = None, *,
                 use_netns: bool | None = None) -> DrillResult:
    """One drill on a fresh pair under `root` (hosts: an inventory, or local sshd hosts when None).
    primary_network runs its pair in network namespaces when possible (see network_choice); when not, or
    when building the namespaces fails, it falls back to kill -STOP and the result says why."""
    if name not in RUNNERS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    res = DrillResult(name)
    in_netns, why_not = network_choice(name, hosts, use_netns)
    net: netns.TradingNetwork | None = None
    if in_netns:
        try:
            net = netns.TradingNetwork.create(("primary", "standby"))
        except netns.NetnsError as exc:
            if use_netns:
                raise
            why_not = f"trading network could not be built: {exc}"
    if name in NETNS_SCENARIOS and net is None:
        res.fault_method, res.fault_note = "sigstop", why_not
    with DrillRig(root, hosts, net=net) as rig:
        try:
            RUNNERS[name](rig, res)
        except Exception as exc:  # a drill that breaks is a failed drill, with the reason in the report
            res.fail(f"drill aborted: {type(exc).__name__}: {exc}")
        final_checks(rig, res, upto_takeover=name != "second_primary")
    return res


def crash_series(root: Path, n: int, hosts: dict[str, Host] | None = None,
                 on_drill: Callable[[int, DrillResult], None] | None = None) -> tuple[list[DrillResult], DrillResult]:
    """n consecutive crashes of whichever node is active; the killed node is restarted (it comes back
    fenced, passive) and catches up before the next drill. Returns the drills and one overall result
    holding the stream check across all n failovers."""
    drills: list[DrillResult] = []
    overall = DrillResult("crash_series")
    with DrillRig(root, hosts) as rig:
        for i in range(n):
            res = DrillResult("primary_crash")
            try:
                primary_crash(rig, res, i)
                victim = next(x for x in ("primary", "standby") if not rig.node(x).is_running())
                rig.node(victim).restart()
                rig.node(victim).wait_ha("passive", DEADLINE_S)
                if not rig.wait_synced(victim, rig.other(victim)):
                    res.fail("restarted node did not catch up")
            except Exception as exc:
                res.fail(f"drill aborted: {type(exc).__name__}: {exc}")
            drills.append(res)
            if on_drill is not None:
                on_drill(i, res)
            if not res.ok:
                overall.fail(f"drill {i + 1}: {res.failures}")
        final_checks(rig, overall)
    for key in ("detect_ms", "accept_ms", "gap_free_ms"):
        overall.metrics[key] = checks.summarize([d.metrics[key] for d in drills if d.metrics.get(key) is not None])
    return drills, overall
