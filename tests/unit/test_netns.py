"""hw.netns: naming and subnet choice (pure), and real namespaces built and torn down with real `ip` commands,
checked against `ip netns list`, `ip link` and the route table afterwards."""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from hw import netns
from hw.netns import NetnsError, TradingNetwork, candidate_subnets, parse_networks, plan
from tests.polling import wait_for

SUBNET = ipaddress.IPv4Network("10.77.42.0/24")


# ------------------------------------------------------------------------------------------------ pure
def test_plan_when_two_nodes_then_short_unique_names_and_one_slash30_each() -> None:
    links = plan("3f9a1c", ["primary", "standby"], SUBNET)
    p, s = links["primary"], links["standby"]
    assert (p.netns, p.root_if, p.ns_if) == ("colo-3f9a1c-pri", "cr-3f9a1c-pri", "cn-3f9a1c-pri")
    assert (s.netns, s.root_if, s.ns_if) == ("colo-3f9a1c-sta", "cr-3f9a1c-sta", "cn-3f9a1c-sta")
    names = [n for lk in links.values() for n in (lk.netns, lk.root_if, lk.ns_if)]
    assert len(set(names)) == len(names) and all(len(n) <= 15 for n in names)
    assert (p.gateway, p.address, s.gateway, s.address) == ("10.77.42.1", "10.77.42.2", "10.77.42.5", "10.77.42.6")
    for lk in links.values():  # gateway and node share a /30 inside the run's subnet, and nothing else does
        net = ipaddress.IPv4Network(f"{lk.address}/30", strict=False)
        assert ipaddress.IPv4Address(lk.gateway) in net and net.subnet_of(SUBNET)
    assert not ipaddress.IPv4Network(f"{p.address}/30", strict=False).overlaps(
        ipaddress.IPv4Network(f"{s.address}/30", strict=False))


@pytest.mark.parametrize(("run_id", "nodes", "subnet", "match"), [
    ("XYZ", ["primary"], SUBNET, "six hex digits"),
    ("3f9a1c", ["primary", "primary"], SUBNET, "distinct"),
    ("3f9a1c", ["primary", "prime"], SUBNET, "share a name tag"),
    ("3f9a1c", ["a1", "b1", "c1"], ipaddress.IPv4Network("10.77.42.0/30"), "holds 1 node links"),
    ("3f9a1c", ["--"], SUBNET, "no letters or digits"),
])
def test_plan_when_invalid_then_refused(run_id: str, nodes: list[str], subnet: ipaddress.IPv4Network,
                                        match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan(run_id, nodes, subnet)


def test_candidate_subnets_when_some_in_use_then_only_free_slash24s_of_the_base() -> None:
    used = [ipaddress.IPv4Network("10.77.0.0/20"), ipaddress.IPv4Network("10.77.200.7/32"),
            ipaddress.IPv4Network("192.0.2.0/24")]
    free = candidate_subnets(used, rng=random.Random(1))
    assert len(free) == 256 - 16 - 1
    assert all(s.prefixlen == 24 and s.subnet_of(netns.BASE) for s in free)
    assert not any(s.overlaps(u) for s in free for u in used)
    assert free != sorted(free)  # spread out, so concurrent runs rarely try the same one first
    assert candidate_subnets([ipaddress.IPv4Network("10.0.0.0/8")]) == []  # a covering route takes it all


def test_parse_networks_when_ip_output_then_every_prefix_found() -> None:
    text = ("4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n"
            "default via 192.0.2.1 dev eth0\nblackhole 10.77.5.0/24 metric 4000\n"
            "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1\n")
    got = {str(n) for n in parse_networks(text)}
    assert {"192.0.2.0/24", "192.0.2.255/32", "192.0.2.1/32", "10.77.5.0/24", "127.0.0.0/8"} <= got


# ------------------------------------------------------------------------------------------------ real
def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def _leftovers(run_id: str, subnet: ipaddress.IPv4Network) -> list[str]:
    """Anything of this run still on the machine: namespaces, links, the subnet's route, its record file."""
    left = [n for n in _ip("netns", "list").split() if run_id in n]
    left += [line for line in _ip("-br", "link").splitlines() if run_id in line]
    left += [line for line in _ip("-4", "route", "show", "table", "all").splitlines() if str(subnet) in line]
    if (netns.STATE_DIR / f"{run_id}.json").exists():
        left.append(f"record {run_id}.json")
    return left


def _netns_or_fallback() -> bool:
    """True where namespaces work; where they do not, the probe says why and create() refuses cleanly (the
    drill then falls back to SIGSTOP)."""
    p = netns.probe()
    if not p.ok:
        assert p.reason
        with pytest.raises(NetnsError):
            TradingNetwork.create(("primary", "standby"))
    return p.ok


def _connect(ns: str | None, addr: str, port: int, timeout: float = 1.0) -> str:
    """Connect from the root namespace (ns None) or from inside `ns`; 'ok' or the error's name."""
    code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), "
            f"timeout={timeout}).close(); print('ok')\nexcept OSError as e: print(type(e).__name__)")
    argv = [sys.executable, "-c", code, addr, str(port)]
    if ns is not None:
        argv = ["ip", "netns", "exec", ns, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10).stdout.strip()


def test_trading_network_when_built_then_nodes_reachable_link_down_cuts_and_teardown_leaves_nothing() -> None:
    if not _netns_or_fallback():
        return
    net = TradingNetwork.create(("primary", "standby"))
    rid, subnet = net.run_id, net.subnet
    server: subprocess.Popen[str] | None = None
    try:
        assert subnet.subnet_of(netns.BASE) and subnet.prefixlen == 24
        listed = _ip("netns", "list").split()
        p, s = net.links["primary"], net.links["standby"]
        assert p.netns in listed and s.netns in listed
        assert Path(f"/proc/sys/net/ipv4/conf/{p.root_if}/forwarding").read_text().strip() == "1"
        assert p.address in _ip("-n", p.netns, "-4", "addr", "show", "dev", p.ns_if)
        record = orjson.loads((netns.STATE_DIR / f"{rid}.json").read_bytes())
        assert record["pid"] == os.getpid() and record["subnet"] == str(subnet)
        # A listener on the primary's namespace address: reachable from the root and from the standby's
        # namespace (routed through the root namespace), until the primary's root-side veth goes down.
        server = subprocess.Popen(
            ["ip", "netns", "exec", p.netns, sys.executable, "-c",
             "import socket,sys\ns=socket.socket(); s.bind((sys.argv[1], 0)); s.listen(64)\n"
             "print(s.getsockname()[1], flush=True)\nwhile True: s.accept()[0].close()", p.address],
            stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        port = int(server.stdout.readline())
        assert _connect(None, p.address, port) == "ok"
        assert _connect(s.netns, p.address, port) == "ok"
        _ip("link", "set", "dev", p.root_if, "down")
        assert _connect(s.netns, p.address, port) == "TimeoutError"  # silently dropped, as on a cut link
        assert _connect(None, p.address, port) != "ok"
        via = subprocess.run(["ip", "route", "get", p.address], capture_output=True, text=True)
        assert via.returncode != 0 or via.stdout.startswith("blackhole")  # never out the host's default route
        _ip("link", "set", "dev", p.root_if, "up")
        wait_for(lambda: _connect(s.netns, p.address, port) == "ok", 10, "the healed link to carry traffic")
        assert _connect(None, p.address, port) == "ok"
    finally:
        if server is not None:
            server.kill()
            server.wait(5)
        net.teardown()
    assert _leftovers(rid, subnet) == []
    net.teardown()  # a second teardown is a no-op


def test_trading_network_when_a_node_fails_to_build_then_everything_made_is_removed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not _netns_or_fallback():
        return
    built: list[TradingNetwork] = []
    real = TradingNetwork._build_link

    def build_then_fail(self: TradingNetwork, lk: netns.NodeLink) -> None:
        built.append(self)
        real(self, lk)
        if lk.node == "standby":  # both namespaces and veths exist, then the setup breaks
            raise NetnsError("injected failure after the standby's link")

    monkeypatch.setattr(TradingNetwork, "_build_link", build_then_fail)
    with pytest.raises(NetnsError, match="injected failure"):
        TradingNetwork.create(("primary", "standby"))
    net = built[0]
    assert _leftovers(net.run_id, net.subnet) == []


def test_trading_networks_when_two_at_once_then_distinct_subnets_and_names() -> None:
    if not _netns_or_fallback():
        return
    a = TradingNetwork.create(("primary", "standby"))
    try:
        b = TradingNetwork.create(("primary", "standby"))
        try:
            assert a.subnet != b.subnet and not a.subnet.overlaps(b.subnet)
            assert a.run_id != b.run_id
            assert {lk.netns for lk in a.links.values()}.isdisjoint(lk.netns for lk in b.links.values())
        finally:
            b.teardown()
    finally:
        a.teardown()
    assert _leftovers(a.run_id, a.subnet) == [] and _leftovers(b.run_id, b.subnet) == []


def test_sweep_stale_when_owner_process_gone_then_its_network_is_removed() -> None:
    if not _netns_or_fallback():
        return
    net = TradingNetwork.create(("primary", "standby"))
    rid, subnet = net.run_id, net.subnet
    try:
        dead = subprocess.Popen(["true"])
        dead.wait(5)  # reaped: its pid names no process now
        rec = netns.STATE_DIR / f"{rid}.json"
        obj = orjson.loads(rec.read_bytes())
        rec.write_bytes(orjson.dumps({**obj, "pid": dead.pid}))  # as if a drill had been killed with SIGKILL
        assert rid in netns.sweep_stale()
        assert _leftovers(rid, subnet) == []
    finally:
        net.teardown()


# ------------------------------------------------------------------------------------------------ the drill's choice
def test_network_choice_when_scenario_hosts_or_probe_differ_then_only_primary_network_in_namespaces(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from flows.ha.runner import network_choice
    from hw.hosts import Host

    inventory = {"colo-a": Host("colo-a", "10.0.0.1", 22, "ops", tmp_path / "k", tmp_path / "kh")}
    monkeypatch.setattr(netns, "probe", lambda: netns.NetnsProbe(True, "ok"))
    assert network_choice("primary_network", None, None) == (True, "")
    assert network_choice("primary_crash", None, None) == (False, "")
    assert network_choice("primary_network", None, False) == (False, "network namespaces not requested")
    assert network_choice("primary_network", inventory, None)[0] is False
    assert "inventory" in network_choice("primary_network", inventory, None)[1]
    monkeypatch.setattr(netns, "probe", lambda: netns.NetnsProbe(False, "not root"))
    assert network_choice("primary_network", None, None) == (False, "network namespaces unavailable: not root")
    assert network_choice("primary_network", None, True) == (True, "")  # insisting skips the probe


def test_ha_report_when_fallback_then_fault_method_and_reason_in_the_drill_table() -> None:
    from reports.ha import render_html, report_doc

    drills = [{"scenario": "primary_network", "ok": True, "fault_method": "sigstop",
               "fault_note": "network namespaces unavailable: not root"},
              {"scenario": "primary_crash", "ok": True, "fault_method": "sigkill"}]
    html = render_html(report_doc("2026-11-21", drills))
    assert "<td>sigstop (network namespaces unavailable: not root)</td>" in html
    assert "<td>sigkill</td>" in html
