"""Start, stop and restart a twin node as a subprocess (tests, the demo, `opsctl twin up|down`).

    handle = start_twin(home, node="primary", ports=None, flow_rate=0, seed=1)
    handle.endpoints      # {"control": "tcp://127.0.0.1:P", "telemetry": ..., "dropcopy": ..., "rewind": ...}
    handle.keys_dir       # <home>/keys (core + client keypairs, roles.json)
    handle.state_dir      # <home>/twin/<node> (state.json, events/epoch-*.evt)
    handle.pid            # the twin process id (None when stopped)
    handle.call("status") # one request over CURVE (identity "operator" by default) -> protocol.Reply
    handle.stop()         # SIGTERM, wait; SIGKILL if it does not exit in time
    handle.kill()         # SIGKILL (crash test)
    handle.restart()      # stop (if running) and start again on the same ports, then wait_ready
    handle.wait_ready(deadline_s)  # poll `hello` over CURVE until the twin answers

`ports=None` picks four free loopback ports; a dict {control, telemetry, dropcopy, rewind} or a list of four
ports pins them. With `provision=True` (default) a home without twin state gets a provisioned one first
(ACTIVE, default limits, BP and locates; see state.provisioned_state): a fresh install is configured, not
unknown. A twin whose state file is later lost or damaged still comes up HALTED.

A Binary Star pair (hw.twin.ha): `start_pair(root)` starts node primary on host home <root>/primary-host and
node standby on <root>/standby-host (separate state, the same CURVE keys, as two colo hosts provisioned
alike), each with an `ha` port for the peer link, and waits until the primary is active and the standby
passive. `TwinPair.control_endpoints` is what a CoreClient following the active node wants.

A node can run inside a Linux network namespace (the HA drill's trading network, hw.netns):
`start_twin(..., bind="10.77.K.2", netns="colo-…-pri")` spawns `ip netns exec <netns> python -m hw.twin
--bind 10.77.K.2 …` (the same process: `ip netns exec` execs the twin, so the handle's pid is the twin's)
and the endpoints are tcp://10.77.K.2:<port>; `start_pair(root, bind={...}, netns={...})` does that per
node and points each node's peer link at the other's address.

For a twin started elsewhere (another process), `read_endpoint_file(home, node)` gives its endpoints and
pid and `stop_twin(home, node)` stops it by pid. `settings_ports(node)` gives the configured ports (what
`opsctl twin up` should bind so that corectl finds the twin with no flags).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import zmq

from core_bridge.auth import client_keypair, configure_client, generate_keyset, server_public
from core_bridge.protocol import DEFAULT_PORTS, Command, Reply, Request
from hw.errors import TwinStartError
from hw.procs import pid_alive
from hw.twin.persistence import endpoint_file, read_endpoint_file
from hw.twin.state import provisioned_state
from hw.twin.statestore import STATE_FILE, mark_clean, save_state

__all__ = ["TwinHandle", "TwinPair", "free_ports", "provision_pair_keys", "read_endpoint_file", "settings_ports",
           "start_pair", "start_twin", "stop_twin", "twin_request"]

_NAMES = tuple(DEFAULT_PORTS)  # control, telemetry, dropcopy, rewind


def free_ports(n: int = 4) -> list[int]:
    """n distinct free loopback TCP ports (bound then released; the twin binds them right after)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def settings_ports(node: str = "primary") -> dict[str, int]:
    """The node's configured ports (load_settings(): COLO_OPS_CORE_* over colo-ops.toml; standby is +100),
    for `start_twin(home, node, ports=settings_ports(node))` as `opsctl twin up` wants it."""
    from core_bridge.settings import load_settings

    settings = load_settings()
    return {name: int(settings.core_endpoint(name, node).rsplit(":", 1)[1]) for name in _NAMES}


def twin_request(endpoint: str, keys_dir: Path, cmd: Command | str, args: dict[str, Any] | None = None, *,
                 identity: str = "operator", timeout_s: float = 5.0, request_id: str | None = None,
                 reason: str = "twin launcher", ctx: zmq.Context | None = None) -> Reply | None:
    """One CURVE request/reply on a fresh DEALER; None when no reply came before the timeout."""
    context = ctx or zmq.Context.instance()
    s = context.socket(zmq.DEALER)
    s.linger = 0
    try:
        configure_client(s, client_keypair(keys_dir, identity), server_public(keys_dir))
        s.connect(endpoint)
        now = time.time_ns()
        req = Request(Command(cmd), request_id or f"launch-{os.getpid()}-{now}", os.environ.get("USER", "ops"),
                      reason, now + int(timeout_s * 1e9) + 1_000_000_000, args or {})
        s.send(req.encode())
        if s.poll(int(timeout_s * 1000)):
            return Reply.decode(s.recv())
        return None
    finally:
        s.close(0)


@dataclass
class TwinHandle:
    home: Path
    node: str
    ports: dict[str, int]
    flow_rate: int = 0
    seed: int = 1
    ha_port: int | None = None  # Binary Star peer link (ROUTER) port; None: a single node
    peer: str | None = None  # the peer's ha endpoint
    heartbeat_ms: int = 100
    bind: str = "127.0.0.1"  # the address the node's endpoints bind (in its network namespace, if any)
    netns: str | None = None  # run inside this network namespace (`ip netns exec`); None: the caller's
    keys_dir: Path = field(init=False)
    state_dir: Path = field(init=False)
    log_path: Path = field(init=False)
    endpoints: dict[str, str] = field(init=False)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.keys_dir = self.home / "keys"
        self.state_dir = self.home / "twin" / self.node
        self.log_path = self.home / "run" / f"twin-{self.node}.log"
        self.endpoints = {name: f"tcp://{self.bind}:{self.ports[name]}" for name in _NAMES}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def endpoint_file(self) -> Path:
        return endpoint_file(self.home, self.node)

    def is_running(self) -> bool:
        return self.pid is not None

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "hw.twin", "--home", str(self.home), "--node", self.node,
                "--keys-dir", str(self.keys_dir),
                "--ports", ",".join(str(self.ports[n]) for n in _NAMES), "--bind", self.bind,
                "--flow-rate", str(self.flow_rate), "--seed", str(self.seed)]
        if self.ha_port is not None and self.peer:
            argv += ["--ha-port", str(self.ha_port), "--peer", self.peer, "--heartbeat-ms", str(self.heartbeat_ms)]
        if self.netns is not None:
            from hw.netns import ip_binary

            ip = ip_binary()
            if ip is None:
                raise TwinStartError(f"cannot start in network namespace {self.netns}: no `ip` command", self.node)
            argv = [ip, "netns", "exec", self.netns, *argv]  # execs the twin: same pid
        env = dict(os.environ)
        env["COLO_OPS_HOME"] = str(self.home)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        from hw.supervise import enabled, wrap

        if enabled(env):  # restarted when it dies (hw/supervise.py); the endpoint file names the child
            argv = wrap(argv, f"twin-{self.node}", self.home / "run" / f"supervise-twin-{self.node}.json")
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                         start_new_session=True)

    def call(self, cmd: Command | str, args: dict[str, Any] | None = None, *, identity: str = "operator",
             timeout_s: float = 5.0, request_id: str | None = None) -> Reply:
        """One command over CURVE; raises TwinStartError if the twin does not answer in time."""
        rep = twin_request(self.endpoints["control"], self.keys_dir, cmd, args, identity=identity,
                           timeout_s=timeout_s, request_id=request_id)
        if rep is None:
            raise TwinStartError(f"no reply to {cmd} within {timeout_s} s", self.node, str(self.log_path))
        return rep

    @property
    def ha_endpoint(self) -> str | None:
        return None if self.ha_port is None else f"tcp://{self.bind}:{self.ha_port}"

    def ha_status(self, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """This node's HA status (None when it does not answer in time)."""
        rep = twin_request(self.endpoints["control"], self.keys_dir, Command.HA_STATUS, identity="monitor",
                           timeout_s=timeout_s)
        return rep.result if rep is not None and rep.ok else None

    def wait_ha(self, state: str, deadline_s: float = 10.0) -> dict[str, Any]:
        """Poll ha_status until this node's FSM state is `state` (active|passive|pending)."""
        end = time.monotonic() + deadline_s
        last: dict[str, Any] | None = None
        while time.monotonic() < end:
            last = self.ha_status(timeout_s=0.5)
            if last is not None and last.get("state") == state:
                return last
            time.sleep(0.02)  # polling interval of a bounded wait
        raise TwinStartError(f"not {state} within {deadline_s} s (last: {last})", self.node, str(self.log_path))

    def wait_peer(self, peer_state: str, deadline_s: float = 10.0) -> dict[str, Any]:
        """Poll ha_status until this node has heard its peer in `peer_state` (e.g. passive after a demote)."""
        end = time.monotonic() + deadline_s
        last: dict[str, Any] | None = None
        while time.monotonic() < end:
            last = self.ha_status(timeout_s=0.5)
            if last is not None and last.get("peer_state") == peer_state and last.get("peer_alive"):
                return last
            time.sleep(0.02)  # polling interval of a bounded wait
        raise TwinStartError(f"peer not {peer_state} within {deadline_s} s (last: {last})", self.node,
                             str(self.log_path))

    def wait_ready(self, deadline_s: float = 15.0) -> dict[str, Any]:
        """Poll `hello` over CURVE until the twin answers; returns the hello result."""
        end = time.monotonic() + deadline_s
        ctx: zmq.Context = zmq.Context.instance()
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise TwinStartError(f"exited with {self.proc.returncode} before answering: {self._log_tail()}",
                                     self.node, str(self.log_path))
            left = end - time.monotonic()
            if left <= 0:
                raise TwinStartError(f"no hello within {deadline_s} s: {self._log_tail()}", self.node,
                                     str(self.log_path))
            try:
                rep = twin_request(self.endpoints["control"], self.keys_dir, Command.HELLO, identity="monitor",
                                   timeout_s=min(0.25, left), ctx=ctx)
            except Exception:  # keys may not exist yet on the very first start
                rep = None
            if rep is not None and rep.ok:
                return rep.result
            time.sleep(0.02)  # polling interval of a bounded readiness loop

    def _log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Graceful stop (SIGTERM); SIGKILL if it is still alive after timeout_s. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL: a crash, no chance to flush or remove the endpoint file."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        return self.proc.returncode

    def restart(self, deadline_s: float = 15.0) -> TwinHandle:
        """Stop if running, start again on the same ports and wait until it answers."""
        self.stop()
        self._spawn()
        self.wait_ready(deadline_s)
        return self


def _today_ny() -> str:
    return dt.datetime.now(ZoneInfo("America/New_York")).date().isoformat()


def start_twin(home: Path | str, node: str = "primary", ports: dict[str, int] | list[int] | None = None,
               flow_rate: int = 0, seed: int = 1, *, provision: bool = True, wait: bool = True,
               deadline_s: float = 15.0, ha_port: int | None = None, peer: str | None = None,
               heartbeat_ms: int = 100, bind: str = "127.0.0.1", netns: str | None = None) -> TwinHandle:
    """Start a twin node as a subprocess and (by default) wait until it answers `hello`; `bind`/`netns`: the
    address its endpoints bind and the network namespace it runs in (see the module docstring)."""
    home = Path(home).absolute()
    if node not in ("primary", "standby"):
        raise ValueError("node must be primary or standby")
    generate_keyset(home / "keys")
    if ports is None:
        port_map = dict(zip(_NAMES, free_ports(4), strict=True))
    elif isinstance(ports, dict):
        port_map = {n: int(ports[n]) for n in _NAMES}
    else:
        port_map = dict(zip(_NAMES, (int(p) for p in ports), strict=True))
    handle = TwinHandle(home, node, port_map, flow_rate, seed, ha_port, peer, heartbeat_ms, bind, netns)
    fresh = not (handle.state_dir / STATE_FILE).exists() and not (handle.state_dir / "events").exists()
    if provision and fresh:
        state = provisioned_state(_today_ny())
        save_state(handle.state_dir, state)
        mark_clean(handle.state_dir, state)  # provisioned, not crashed: the first start restores it
    handle._spawn()
    if wait:
        try:
            handle.wait_ready(deadline_s)
        except TwinStartError:
            handle.kill()
            raise
    return handle


def stop_twin(home: Path | str, node: str = "primary", timeout_s: float = 10.0) -> bool:
    """Stop a twin started by another process, by the pid in its endpoint file. True if one was stopped."""
    home = Path(home).absolute()
    info = read_endpoint_file(home, node)
    if not info or not isinstance(info.get("pid"), int):
        return False
    pid = int(info["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        endpoint_file(home, node).unlink(missing_ok=True)
        return False
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)  # bounded wait for the process to exit
    os.kill(pid, signal.SIGKILL)
    endpoint_file(home, node).unlink(missing_ok=True)
    return True


@dataclass
class TwinPair:
    """A primary/standby twin pair on two host homes (see start_pair)."""

    root: Path
    primary: TwinHandle
    standby: TwinHandle

    @property
    def control_endpoints(self) -> list[str]:
        return [self.primary.endpoints["control"], self.standby.endpoints["control"]]

    def endpoints(self, name: str) -> list[str]:
        return [self.primary.endpoints[name], self.standby.endpoints[name]]

    @property
    def keys_dir(self) -> Path:
        return self.primary.keys_dir

    def node(self, name: str) -> TwinHandle:
        return self.primary if name == "primary" else self.standby

    def active(self) -> TwinHandle | None:
        for h in (self.primary, self.standby):
            if h.is_running():
                st = h.ha_status(timeout_s=0.5)
                if st is not None and st.get("state") == "active":
                    return h
        return None

    def position(self, node: str) -> tuple[int, int] | None:
        rep = twin_request(self.node(node).endpoints["control"], self.keys_dir, Command.STATUS, identity="monitor",
                           timeout_s=0.5)
        return (int(rep.result["epoch"]), int(rep.result["last_seq"])) if rep is not None and rep.ok else None

    def wait_in_sync(self, deadline_s: float = 10.0) -> tuple[int, int]:
        """Poll until both nodes hold the same (epoch, last_seq): the passive has the whole stream."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            a, b = self.position("primary"), self.position("standby")
            if a is not None and a == b:
                return a
            time.sleep(0.02)  # polling interval of a bounded wait
        raise TwinStartError(f"nodes not in sync within {deadline_s} s", "pair")

    def stop(self) -> None:
        for h in (self.primary, self.standby):
            h.stop()


def provision_pair_keys(primary_home: Path, standby_home: Path) -> None:
    """Both hosts hold the same core key (clients trust one server key) and the `peer` key of the link."""
    from core_bridge.auth import Role

    keys = primary_home / "keys"
    generate_keyset(keys)
    generate_keyset(keys, {"peer": Role.ADMIN})
    dest = standby_home / "keys"
    if not dest.exists():
        shutil.copytree(keys, dest)


def start_pair(root: Path | str, *, flow_rate: int = 0, seed: int = 1, heartbeat_ms: int = 100,
               deadline_s: float = 15.0, bind: Mapping[str, str] | None = None,
               netns: Mapping[str, str] | None = None) -> TwinPair:
    """Start a Binary Star pair and wait until primary active, standby passive. By default both nodes bind
    free loopback ports; `bind`/`netns` ({node: address}, {node: namespace}) put each node in its own network
    namespace on that address (hw.netns.TradingNetwork), the peer links pointing at each other's address."""
    root = Path(root).absolute()
    homes = {n: root / f"{n}-host" for n in ("primary", "standby")}
    provision_pair_keys(homes["primary"], homes["standby"])
    ports = free_ports(10)
    ha = {"primary": ports[8], "standby": ports[9]}
    addr = {n: (bind or {}).get(n, "127.0.0.1") for n in ("primary", "standby")}
    handles: dict[str, TwinHandle] = {}
    try:
        for i, n in enumerate(("primary", "standby")):
            other = "standby" if n == "primary" else "primary"
            handles[n] = start_twin(homes[n], n, ports[4 * i:4 * i + 4], flow_rate if n == "primary" else 0, seed,
                                    ha_port=ha[n], peer=f"tcp://{addr[other]}:{ha[other]}", heartbeat_ms=heartbeat_ms,
                                    deadline_s=deadline_s, bind=addr[n], netns=(netns or {}).get(n))
        handles["primary"].wait_ha("active", deadline_s)
        handles["standby"].wait_ha("passive", deadline_s)
    except BaseException:
        for h in handles.values():
            h.kill()
        raise
    return TwinPair(root, handles["primary"], handles["standby"])
