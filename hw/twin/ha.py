"""This node's high-availability role: the Binary Star state machine (ZeroMQ guide, ch. 4), adapted.

A twin started without a peer is a single node and always active (`binary_star` false). With a peer it
runs the pair's finite-state machine; the server feeds it peer heartbeats and client requests and asks
`is_active()` before serving anything but hello/status/ha_status.

States: `pending` (just started, as primary or backup), `active`, `passive`.

    pending primary  peer pending-backup or passive  -> active     (fresh pair: the primary leads)
                     peer active                     -> passive, fenced (an old primary coming back)
                     client request, no peer seen for the startup window -> active
    pending backup   peer active                     -> passive
                     client request                  -> refused (HA_NOT_ACTIVE): a backup never leads alone
    passive          peer pending (it restarted)     -> active     (we hold the replicated stream)
                     client request, peer silent for `expiry` -> active (takeover)
                     client request, peer alive      -> refused (HA_NOT_ACTIVE)
    active           peer active                     -> two actives is fatal for one of them: the node with
                                                        the lower fencing term steps down (fenced, reported)

Fencing: every move to active takes a new *term* (max(own, peer's) + 1), persisted in `ha.json` beside the
state; a node that led before and comes back to find the peer active is *fenced*: it follows as passive,
answers HA_FENCED, never leads on its own at startup, and is failed back only by hand (`ha_promote`/
`ha_demote`). Split brain: `ha_promote` while the peer is alive and active, or a
second primary showing up while the pair already has an active node, is refused with HA_SPLIT_BRAIN and
counted (`split_brain_refusals`), so the drill report and the audit log (through the client that asked)
carry it. Time here is monotonic ns, passed in: the machine is pure and unit-tested without sockets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core_bridge.protocol import HaRole
from core_bridge.reasons import ReasonCode

HA_FILE = "ha.json"
DEFAULT_HEARTBEAT_MS = 100
EXPIRY_INTERVALS = 3  # a peer silent for 3 heartbeats is lost
PENDING, ACTIVE, PASSIVE = "pending", "active", "passive"


@dataclass
class PeerView:
    """What the last heartbeat (or refusal) from the peer said."""

    instance: str = ""
    node: str = ""
    state: str = ""
    term: int = 0
    epoch: int = 0
    last_seq: int = 0
    seen_ns: int | None = None


@dataclass
class HaNode:
    node: str  # "primary" | "standby"
    binary_star: bool = False
    heartbeat_ms: int = DEFAULT_HEARTBEAT_MS
    state: str = ACTIVE
    fenced: bool = False
    term: int = 0
    started_ns: int = 0
    peer: PeerView = field(default_factory=PeerView)
    split_brain_refusals: int = 0
    last_split_brain: str = ""
    refused_by_peer_ns: int | None = None  # when the pair last told us another node is active
    degraded: bool = False  # active without a synced passive
    transitions: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, why), newest last
    state_dir: Path | None = None

    # ------------------------------------------------------------------ derived
    @property
    def ha_role(self) -> str:
        return ACTIVE if self.state == ACTIVE else PASSIVE

    @property
    def expiry_ns(self) -> int:
        return self.heartbeat_ms * EXPIRY_INTERVALS * 1_000_000

    def is_active(self) -> bool:
        return self.state == ACTIVE

    def fsm_role(self) -> HaRole:
        primary = self.node == "primary"
        if self.state == ACTIVE:
            return HaRole.PRIMARY_ACTIVE if primary else HaRole.BACKUP_ACTIVE
        return HaRole.PRIMARY_PASSIVE if primary else HaRole.BACKUP_PASSIVE

    def peer_alive(self, now_ns: int) -> bool:
        return self.peer.seen_ns is not None and now_ns - self.peer.seen_ns < self.expiry_ns

    def peer_age_ms(self, now_ns: int) -> int | None:
        return None if self.peer.seen_ns is None else max(0, now_ns - self.peer.seen_ns) // 1_000_000

    def status(self, epoch: int, now_ns: int | None = None) -> dict[str, Any]:
        import time

        now = time.monotonic_ns() if now_ns is None else now_ns
        return {
            "node": self.node,
            "ha_role": self.ha_role,
            "fsm": self.fsm_role().name if self.binary_star else None,
            "state": self.state,
            "peer_seen_ms": self.peer_age_ms(now),
            "peer_alive": self.peer_alive(now),
            "peer_state": self.peer.state or None,
            "peer_term": self.peer.term,
            "fenced": self.fenced,
            "term": self.term,
            "epoch": epoch,
            "degraded": self.degraded,
            "split_brain_refusals": self.split_brain_refusals,
            "last_split_brain": self.last_split_brain,
            "binary_star": self.binary_star,
        }

    # ------------------------------------------------------------------ persistence of the fencing term
    @classmethod
    def load(cls, node: str, state_dir: Path, *, heartbeat_ms: int, now_ns: int) -> HaNode:
        """A Binary Star node starting up: pending, with the term (and fenced flag) it last persisted."""
        ha = cls(node, binary_star=True, heartbeat_ms=heartbeat_ms, state=PENDING, started_ns=now_ns,
                 state_dir=state_dir)
        try:
            obj = orjson.loads((state_dir / HA_FILE).read_bytes())
            ha.term = int(obj.get("term", 0))
            ha.fenced = bool(obj.get("fenced", False))
        except (OSError, orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            pass
        return ha

    def save(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / HA_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"node": self.node, "term": self.term, "fenced": self.fenced,
                                      "state": self.state}))
        os.replace(tmp, path)

    # ------------------------------------------------------------------ transitions
    def _go(self, state: str, why: str) -> str:
        old = self.state
        self.state = state
        if state == ACTIVE:
            self.term = max(self.term, self.peer.term) + 1
            self.fenced = False
        self.transitions.append((old, state, why))
        del self.transitions[:-50]
        self.save()
        return why

    def on_peer(self, now_ns: int, peer: PeerView) -> str | None:
        """A heartbeat from the peer. Returns a transition name ("activate", "takeover", "step_down",
        "follow") when the state changed, else None."""
        self.peer = peer
        self.peer.seen_ns = now_ns
        if self.state == PENDING:
            if peer.state == ACTIVE:
                self.fenced = self.term > 0  # we led before and the peer leads now: no automatic failback
                self._go(PASSIVE, "peer active")
                return "follow"
            if self.node == "primary" and (peer.state == PASSIVE or peer.node == "standby"):
                return self._go(ACTIVE, "activate")
            return None
        if self.state == PASSIVE:
            if peer.state == PENDING:
                return self._go(ACTIVE, "takeover")  # peer restarted; we hold the stream
            return None
        if self.state == ACTIVE and peer.state == ACTIVE:
            if (peer.term, peer.node == "primary") > (self.term, self.node == "primary"):
                self.note_split_brain("two actives: stepped down to the peer's higher term")
                self.fenced = True
                self._go(PASSIVE, "step down")
                return "step_down"
        return None

    def on_refused(self, now_ns: int, why: str) -> None:
        """The pair told us another node is already active (we are a second primary): stay passive."""
        self.refused_by_peer_ns = now_ns
        self.peer.seen_ns = now_ns
        self.note_split_brain(why)
        if self.state == ACTIVE:
            self.fenced = True
            self._go(PASSIVE, "fenced by peer")

    def note_split_brain(self, why: str) -> None:
        self.split_brain_refusals += 1
        self.last_split_brain = why

    def on_client_request(self, now_ns: int) -> tuple[ReasonCode | None, str | None]:
        """A command that needs the active node arrived. Returns (refusal code or None, transition or None)."""
        if self.state == ACTIVE:
            return None, None
        if self.refused_by_peer_ns is not None and now_ns - self.refused_by_peer_ns < self.expiry_ns:
            return ReasonCode.HA_SPLIT_BRAIN, None
        if self.state == PENDING:
            alone = self.peer.seen_ns is None and now_ns - self.started_ns >= self.expiry_ns
            if self.node == "primary" and alone and not self.fenced:
                return None, self._go(ACTIVE, "activate")
            return ReasonCode.HA_NOT_ACTIVE, None
        # passive
        if self.peer_alive(now_ns):
            return (ReasonCode.HA_FENCED if self.fenced else ReasonCode.HA_NOT_ACTIVE), None
        return None, self._go(ACTIVE, "takeover")  # a fenced node that followed the stream may lead again

    def promote(self, now_ns: int) -> tuple[ReasonCode | None, str | None]:
        """Manual failback/takeover by an admin."""
        if self.state == ACTIVE:
            return None, None
        if self.peer_alive(now_ns) and self.peer.state == ACTIVE:
            self.note_split_brain("ha_promote refused: the peer is alive and active")
            return ReasonCode.HA_SPLIT_BRAIN, None
        return None, self._go(ACTIVE, "promote")

    def demote(self, now_ns: int) -> tuple[ReasonCode | None, str | None]:
        """Manual step-down; refused when no live peer could take over (nobody would serve)."""
        if self.state != ACTIVE:
            return None, None
        if not self.peer_alive(now_ns):
            return ReasonCode.HA_NOT_ACTIVE, None
        self.fenced = False
        return None, self._go(PASSIVE, "demote")
