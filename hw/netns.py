"""A drill's trading network: one Linux network namespace per twin node, wired to the root namespace.

    probe()                                        # -> NetnsProbe(ok, reason): root, `ip`, netns + veth work
    with TradingNetwork.create(("primary", "standby")) as net:
        net.address("primary")                     # 10.77.K.2: where the node binds its endpoints
        net.netns("primary")                       # colo-3f9a1c-pri: start the node with `ip netns exec` it
        net.links["primary"].root_if               # cr-3f9a1c-pri: `ip link set <it> down` cuts the node off
    # teardown (also on a failed create): the veths, the namespaces and the run's route are gone

Topology (one run): a /24 out of 10.77.0.0/16 that nothing on the machine uses yet, claimed by a
`blackhole <subnet>` route in the root namespace (adding a route that exists fails, so two runs never get
the same subnet). Node i gets the /30 at offset 4i: the root side of its veth pair holds .4i+1, the node's
side inside its namespace .4i+2 with the default route via .4i+1. IPv4 forwarding is switched on for the
run's root-side veths only (`net.ipv4.conf.<veth>.forwarding`, the flag the kernel checks on the input
device), so node-to-node traffic is routed through the root namespace and the host's global
`net.ipv4.ip_forward` is left as it is. With a node's root-side veth down its /30 route goes away and the
blackhole route catches its traffic: packets from the other node are dropped silently (a heartbeat or a
replication batch simply never arrives, as on a cut link) and nothing leaks to the host's default route;
a connect from the root namespace itself fails at once (EINVAL), established connections stall until the
link is back. `ip link set <veth> up` restores the /30 route and TCP carries on.

Names (at most 15 characters, the kernel's limit for interfaces): namespace `colo-<id>-<tag>`, root-side
veth `cr-<id>-<tag>`, node-side veth `cn-<id>-<tag>`, with <id> six random hex digits per run and <tag> the
node name's first three characters. Each run writes what it made to /run/colo-ops/netns/<id>.json with its
pid; `create()` first removes the leftovers of runs whose process is gone (a drill killed with SIGKILL
cannot tear down), and `teardown()` removes the file with the rest.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from hw.errors import HostError
from hw.procs import pid_alive

BASE = ipaddress.IPv4Network("10.77.0.0/16")  # drills take one /24 of this per run
RUN_PREFIX = 24
LINK_PREFIX = 30
BLACKHOLE_METRIC = 4000  # below the /30 routes in preference (they are more specific anyway)
MAX_IFNAME = 15  # IFNAMSIZ - 1
STATE_DIR = Path("/run/colo-ops/netns")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,14}$")
_TAG_RE = re.compile(r"[^a-z0-9]")


class NetnsError(HostError):
    """A namespace, veth, address or route could not be set up (or torn down)."""


@dataclass(frozen=True)
class NetnsProbe:
    ok: bool
    reason: str  # why not, or what was checked


@dataclass(frozen=True)
class NodeLink:
    """One node's namespace and its veth pair to the root namespace."""

    node: str
    netns: str  # the node's namespace
    root_if: str  # root-namespace end of the veth pair (the one a network fault sets down)
    ns_if: str  # the node's end, inside its namespace
    gateway: str  # address of root_if (the node's default route)
    address: str  # address of ns_if (where the node binds)


def ip_binary() -> str | None:
    return shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(p, os.X_OK)),
                                      None)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    exe = ip_binary()
    if exe is None:
        raise NetnsError("the `ip` command (iproute2) is not installed")
    res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=15)
    if check and res.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {res.stderr.strip() or f'exit {res.returncode}'}")
    return res


# ------------------------------------------------------------------------------------------------ pure parts
def node_tag(node: str) -> str:
    tag = _TAG_RE.sub("", node.lower())[:3]
    if not tag:
        raise ValueError(f"node name {node!r} has no letters or digits")
    return tag


def plan(run_id: str, nodes: Sequence[str], subnet: ipaddress.IPv4Network) -> dict[str, NodeLink]:
    """Names and addresses of one run (pure): node i gets the /30 at offset 4i of the run's subnet."""
    if not re.fullmatch(r"[0-9a-f]{6}", run_id):
        raise ValueError(f"run id must be six hex digits, not {run_id!r}")
    if not nodes or len(set(nodes)) != len(nodes):
        raise ValueError("nodes must be distinct and at least one")
    links_fit = subnet.num_addresses // 4
    if len(nodes) > links_fit:
        raise ValueError(f"{subnet} holds {links_fit} node links, not {len(nodes)}")
    tags = [node_tag(n) for n in nodes]
    if len(set(tags)) != len(tags):
        raise ValueError(f"nodes {list(nodes)} share a name tag ({tags}); names would collide")
    base = int(subnet.network_address)
    out: dict[str, NodeLink] = {}
    for i, (node, tag) in enumerate(zip(nodes, tags, strict=True)):
        link = NodeLink(node, f"colo-{run_id}-{tag}", f"cr-{run_id}-{tag}", f"cn-{run_id}-{tag}",
                        str(ipaddress.IPv4Address(base + 4 * i + 1)), str(ipaddress.IPv4Address(base + 4 * i + 2)))
        for name in (link.netns, link.root_if, link.ns_if):
            if len(name) > MAX_IFNAME or not _NAME_RE.fullmatch(name):
                raise ValueError(f"name {name!r} is not a valid interface/namespace name of <= {MAX_IFNAME} chars")
        out[node] = link
    return out


def candidate_subnets(used: Iterable[ipaddress.IPv4Network], *, base: ipaddress.IPv4Network = BASE,
                      prefix: int = RUN_PREFIX, rng: random.Random | None = None) -> list[ipaddress.IPv4Network]:
    """The /prefix blocks of `base` that overlap none of `used`, in random order (runs spread out)."""
    taken = [u for u in used if u.overlaps(base)]
    free = [s for s in base.subnets(new_prefix=prefix) if not any(s.overlaps(u) for u in taken)]
    (rng or random.Random()).shuffle(free)
    return free


def parse_networks(text: str) -> list[ipaddress.IPv4Network]:
    """Every IPv4 prefix named in `ip -4 -o addr` / `ip -4 route show table all` output ("default" skipped)."""
    out = []
    for tok in re.findall(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(/\d{1,2})?(?![\d.])", text):
        try:
            out.append(ipaddress.IPv4Network(tok[0] + (tok[1] or "/32"), strict=False))
        except ValueError:
            continue
    return out


# ------------------------------------------------------------------------------------------------ probe
@cache
def probe() -> NetnsProbe:
    """Can this process build a trading network? Root, `ip`, and a throwaway namespace + veth pair."""
    if os.geteuid() != 0:
        return NetnsProbe(False, "not root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN)")
    if ip_binary() is None:
        return NetnsProbe(False, "the `ip` command (iproute2) is not installed")
    rid = secrets.token_hex(3)
    ns, veth = f"colo-{rid}-prb", f"cr-{rid}-prb"
    try:
        made_ns = False
        try:
            _ip("netns", "add", ns)
            made_ns = True
            _ip("link", "add", veth, "type", "veth", "peer", "name", f"cn-{rid}-prb", "netns", ns)
            _ip("link", "set", veth, "up")
        except NetnsError as exc:
            return NetnsProbe(False, f"cannot create a network namespace with a veth pair: {exc}")
        finally:
            _ip("link", "del", veth, check=False)
            if made_ns:
                _ip("netns", "del", ns, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return NetnsProbe(False, f"cannot run `ip`: {exc}")
    return NetnsProbe(True, "root, iproute2, namespace + veth pair created and removed")


# ------------------------------------------------------------------------------------------------ network
@dataclass
class TradingNetwork:
    """One run's namespaces, veth pairs and subnet. `create()` builds it; `teardown()` removes all of it."""

    run_id: str
    subnet: ipaddress.IPv4Network
    links: dict[str, NodeLink]
    _made: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) in creation order
    _record: Path | None = None

    # --- access ---------------------------------------------------------------------------------------
    def address(self, node: str) -> str:
        return self.links[node].address

    def netns(self, node: str) -> str:
        return self.links[node].netns

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "subnet": str(self.subnet),
                "links": {n: vars(lk) for n, lk in self.links.items()}}

    # --- build ----------------------------------------------------------------------------------------
    @classmethod
    def create(cls, nodes: Sequence[str] = ("primary", "standby"), *, attempts: int = 8) -> TradingNetwork:
        """Claim a free /24, then build one namespace + veth pair per node. On any failure everything made so
        far is removed before the error is raised."""
        sweep_stale()
        used = parse_networks(_ip("-4", "-o", "addr", "show").stdout + "\n"
                              + _ip("-4", "route", "show", "table", "all").stdout)
        existing = set(_ip("netns", "list").stdout.split())
        net: TradingNetwork | None = None
        for subnet in candidate_subnets(used)[:attempts]:
            rid = secrets.token_hex(3)
            links = plan(rid, nodes, subnet)
            if any(lk.netns in existing for lk in links.values()):
                continue
            claim = _ip("route", "add", "blackhole", str(subnet), "metric", str(BLACKHOLE_METRIC), check=False)
            if claim.returncode != 0:  # another run took it between our read and now: next one
                continue
            net = cls(rid, subnet, links)
            net._made.append(("route", str(subnet)))
            break
        if net is None:
            raise NetnsError(f"no free /{RUN_PREFIX} in {BASE} for a trading network")
        try:
            net._write_record()
            for link in net.links.values():
                net._build_link(link)
        except BaseException:
            net.teardown()
            raise
        return net

    def _build_link(self, lk: NodeLink) -> None:
        _ip("netns", "add", lk.netns)
        self._made.append(("netns", lk.netns))
        self._write_record()
        _ip("link", "add", lk.root_if, "type", "veth", "peer", "name", lk.ns_if, "netns", lk.netns)
        self._made.append(("link", lk.root_if))
        self._write_record()
        _ip("addr", "add", f"{lk.gateway}/{LINK_PREFIX}", "dev", lk.root_if)
        Path(f"/proc/sys/net/ipv4/conf/{lk.root_if}/forwarding").write_text("1\n")
        _ip("link", "set", lk.root_if, "up")
        _ip("-n", lk.netns, "link", "set", "lo", "up")
        _ip("-n", lk.netns, "addr", "add", f"{lk.address}/{LINK_PREFIX}", "dev", lk.ns_if)
        _ip("-n", lk.netns, "link", "set", lk.ns_if, "up")
        _ip("-n", lk.netns, "route", "add", "default", "via", lk.gateway)

    def _write_record(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        self._record = STATE_DIR / f"{self.run_id}.json"
        tmp = self._record.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"pid": os.getpid(), "made": self._made, **self.to_dict()}))
        os.replace(tmp, self._record)

    # --- teardown -------------------------------------------------------------------------------------
    def teardown(self) -> None:
        """Remove the veths, namespaces and the subnet's route this run made (each attempted even when an
        earlier one fails); raises NetnsError naming what could not be removed."""
        errors = _remove(self._made)
        self._made = [m for m in self._made if m[1] in {e[0] for e in errors}]
        if not errors and self._record is not None:
            self._record.unlink(missing_ok=True)
            self._record = None
        if errors:
            raise NetnsError("trading network teardown left: " + "; ".join(f"{n}: {why}" for n, why in errors))

    def __enter__(self) -> TradingNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _remove(made: Sequence[tuple[str, str] | list[str]]) -> list[tuple[str, str]]:
    """Undo (kind, name) creations: veth links first (the namespace end goes with them), then namespaces,
    then the route; something already gone counts as removed."""
    errors: list[tuple[str, str]] = []
    order = {"link": 0, "netns": 1, "route": 2}
    for kind, name in sorted(made, key=lambda m: order.get(m[0], 3)):
        if kind == "link":
            res = _ip("link", "del", name, check=False)
            gone = res.returncode == 0 or _ip("link", "show", name, check=False).returncode != 0
        elif kind == "netns":
            res = _ip("netns", "del", name, check=False)
            gone = res.returncode == 0 or name not in _ip("netns", "list").stdout.split()
        elif kind == "route":
            res = _ip("route", "del", "blackhole", name, "metric", str(BLACKHOLE_METRIC), check=False)
            gone = res.returncode == 0 or f"blackhole {name}" not in _ip("route", "show", name).stdout
        else:
            continue
        if not gone:
            errors.append((name, res.stderr.strip() or f"exit {res.returncode}"))
    return errors


def sweep_stale() -> list[str]:
    """Remove what runs whose process is gone left behind (per their record file); returns their run ids."""
    swept: list[str] = []
    if not STATE_DIR.is_dir():
        return swept
    for rec in sorted(STATE_DIR.glob("*.json")):
        try:
            obj = orjson.loads(rec.read_bytes())
            pid = int(obj["pid"])
            made = [(str(k), str(n)) for k, n in obj.get("made", [])]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if pid == os.getpid() or pid_alive(pid):
            continue
        if not _remove(made):
            rec.unlink(missing_ok=True)
            swept.append(rec.stem)
    return swept
