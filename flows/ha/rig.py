"""The drill rig: a Binary Star twin pair, each node on its own "host" reached over SSH, a drop-copy capture
following the active node into a journal, and clients that follow the active node.

The twin processes are provisioned by the rig (hw.twin.launch.start_pair, as an installer would); every
fault is then injected *on the host* over SSH (hw.hosts.SshHost: kill -9, ip link set down/up, kill
-STOP/-CONT, starting a second primary), never by signalling a child process directly.

Given a trading network (hw.netns.TradingNetwork, which the rig then owns), each twin node runs in
its own network namespace and binds its endpoints on that namespace's address; the capture, the clients and
the rig itself stay in the root namespace and reach the nodes there. The SSH hosts (sshd) stay on loopback
in the root namespace, as a colo host's out-of-band management network, so a host is reachable while its
node's trading link is down. `rig.net` is None on loopback. `close()` tears the network down after the
twins are stopped.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.audit import AuditLog
from core_bridge.client.commands import CoreClient
from core_bridge.dropcopy.config import CaptureConfig
from core_bridge.dropcopy.service import CaptureService
from core_bridge.journal.reader import iter_records
from core_bridge.protocol import EVENT_DTYPE
from flows.ha import checks
from hw.hosts import Host, LocalSshd, SshHost
from hw.netns import TradingNetwork
from hw.twin.launch import TwinHandle, TwinPair, start_pair

POLL_S = 0.005  # drill polling interval (bounded loops, deadlines everywhere)


@dataclass
class Timeline:
    """Drill events in ms since the fault (negative: before it)."""

    t0: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)

    def start(self) -> None:
        self.t0 = time.monotonic()

    def mark(self, label: str) -> float:
        ms = round((time.monotonic() - self.t0) * 1000, 1)
        self.events.append((ms, label))
        return ms

    def since(self) -> float:
        return (time.monotonic() - self.t0) * 1000


class DrillRig:
    """One pair + hosts + capture. Use as a context manager; `close()` stops everything it started."""

    def __init__(self, root: Path, hosts: dict[str, Host] | None = None, *, heartbeat_ms: int = 100,
                 net: TradingNetwork | None = None) -> None:
        """`net`: run the pair in this trading network (nodes "primary" and "standby"); the rig tears it down
        in close(), or at once when the rig cannot be built."""
        self.root = root
        self._sshds: list[LocalSshd] = []
        self.net = net
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.pair: TwinPair = start_pair(
                root / "pair", heartbeat_ms=heartbeat_ms,
                bind={n: net.address(n) for n in net.links} if net is not None else None,
                netns={n: net.netns(n) for n in net.links} if net is not None else None)
        except BaseException:
            if self.net is not None:
                self.net.teardown()
            raise
        try:
            self._start(hosts)
        except BaseException:  # nothing left running when the rig cannot be built
            for d in self._sshds:
                d.stop()
            self.pair.stop()
            if self.net is not None:
                self.net.teardown()
            raise

    def _start(self, hosts: dict[str, Host] | None) -> None:
        root = self.root
        if hosts is None:
            hosts = {}
            for node in ("primary", "standby"):
                sshd = LocalSshd(root / f"sshd-{node}").start()
                self._sshds.append(sshd)
                hosts[node] = sshd.host(f"colo-{node}", node, self.pair.node(node).home)
        self.hosts = hosts
        self.ssh: dict[str, SshHost] = {n: SshHost(h) for n, h in hosts.items()}
        self.audit_path = root / "audit" / "control.jsonl"
        self.audit = AuditLog(self.audit_path)
        self.journal_dir = root / "journal"
        p, s = self.pair.primary.endpoints, self.pair.standby.endpoints
        self.capture_cfg = CaptureConfig(
            journal_dir=self.journal_dir, keys_dir=self.pair.keys_dir, dropcopy_endpoint=p["dropcopy"],
            rewind_endpoint=p["rewind"], control_endpoint=p["control"], status_path=None, positions_path=None,
            rewind_timeout_ms=150, idle_probe_ms=100, commit_ms=2.0,
            standby_endpoints={k: s[k] for k in ("dropcopy", "rewind", "control")})
        self.capture = CaptureService(self.capture_cfg)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.capture.run, args=(self._stop,), name="ha-capture", daemon=True)
        self._thread.start()
        self.client = self.new_client("operator")

    # --- clients --------------------------------------------------------------------------------------
    def new_client(self, identity: str = "operator", endpoints: list[str] | None = None, *,
                   timeout_ms: int = 100, retries: int = 40) -> CoreClient:
        """A client following the active node; short per-attempt deadline so a dead node is left fast."""
        return CoreClient(endpoints or self.pair.control_endpoints, self.pair.keys_dir, identity=identity,
                          operator="ha-drill", timeout_ms=timeout_ms, retries=retries, audit=self.audit)

    # --- observations ---------------------------------------------------------------------------------
    def node(self, name: str) -> TwinHandle:
        return self.pair.node(name)

    def other(self, name: str) -> str:
        return "standby" if name == "primary" else "primary"

    def journal_pos(self) -> tuple[int, int]:
        j = self.capture.journal
        return (j.epoch, j.last_seq) if j is not None else (0, 0)

    def core_pos(self, node: str) -> tuple[int, int] | None:
        h = self.node(node)
        if not h.is_running():
            return None
        try:
            st = h.call("status", identity="monitor", timeout_s=0.5).result
        except Exception:  # a frozen node does not answer: no position
            return None
        return int(st["epoch"]), int(st["last_seq"])

    def wait_gap_free(self, node: str, deadline_s: float = 10.0) -> bool:
        """Until the journal holds everything the given (active) node has sequenced."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            pos = self.core_pos(node)
            if pos is not None and self.journal_pos() >= pos:
                return True
            time.sleep(POLL_S)
        return False

    def wait_synced(self, passive: str, active: str, deadline_s: float = 10.0) -> bool:
        """Until the passive node's replicated log reaches the active node's position."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            a, p = self.core_pos(active), self.core_pos(passive)
            if a is not None and p is not None and p >= a:
                return True
            time.sleep(POLL_S)
        return False

    def stop_capture(self) -> None:
        """Stop the capture (it commits and closes its journal) before the journal is read for checks."""
        self._stop.set()
        self._thread.join(10)

    def journal_records(self) -> np.ndarray:
        parts = list(iter_records(self.journal_dir))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)

    def node_logs(self) -> list[dict[int, np.ndarray]]:
        return [checks.read_event_logs(self.node(n).state_dir / "events") for n in ("primary", "standby")]

    def snapshot(self, node: str) -> dict[str, Any]:
        return self.node(node).call("snapshot", timeout_s=2.0).result

    # --- teardown -------------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.stop_capture()
            for c in (self.client,):
                c.close()
            for h in self.ssh.values():
                h.close()
            self.pair.stop()
            for d in self._sshds:
                d.stop()
            self.audit.close()
        finally:
            if self.net is not None:  # after the twins are stopped: nothing is left inside the namespaces
                net, self.net = self.net, None
                net.teardown()

    def __enter__(self) -> DrillRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
