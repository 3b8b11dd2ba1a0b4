"""A tiny in-process core for the conformance suite's own tests: correct by default, wrong on request.

`FakeCore(home, flaws={...})` binds the four sockets on free loopback ports with CURVE and real ZAP (the
keys of `generate_keyset(home / "keys")`), serves hello/status/set_kill/cancel_all, drop copy, rewind and
telemetry from one thread, and keeps docs/protocol.md unless a flaw says otherwise. Each flaw breaks exactly
one rule, so a test can show that rule fails (the rules are not vacuous):

    no_version_check     any `v` is served                     handshake
    accept_unknown_keys  ZAP lets every key in                 unknown_key
    no_auth_count        refused handshakes not counted        unknown_key
    no_role_check        a monitor key may set_kill            role_refusal
    replay_other_args    same id, other args: replayed         idempotent_retry
    toggle               setting the level it has flips it     levels_set_not_toggled
    block_cancels        cancel_all refused below ACTIVE       cancels_never_blocked
    apply_expired        expires_ns ignored                    expiry
    lenient_types        "v"/"expires_ns" as text or float ok  malformed_frames
    no_heartbeat         no hb                                 heartbeat_cadence
    slow_heartbeat       hb every 3 periods                    heartbeat_cadence
    drop_live            every third record not published      dropcopy_continuity
    no_replay_flag       rewind without the REPLAY flag        rewind_in_range
    rewind_lenient       out-of-range rewinds answered OK      rewind_out_of_range
    forget_state         a restart loses kill levels and ids   restart
    flatten_lenient      a flatten MARKET order is accepted    flatten_orders

Order entry (`submit_orders`) is served just enough for the rules: a cancel gets ORDER_UNKNOWN (nothing
works here), a malformed `flatten` entry ORDER_INVALID, any other new order RESTRICTED_ACCOUNT_UNKNOWN.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import zmq
import zmq.auth

from core_bridge.auth import KeyRegistry, ServerAuth, configure_server, generate_keyset, server_keypair
from core_bridge.conformance.peer import Endpoints
from core_bridge.conformance.session import CONTROL_VERSIONS
from core_bridge.protocol import (
    KILL_SCOPE_CODES,
    REWIND_CHUNK,
    EventFlag,
    EventType,
    KillLevel,
    KillScope,
    encode_batch,
    new_events,
)

ROLES = {"hello": "monitor", "status": "monitor", "set_kill": "operator", "cancel_all": "operator",
         "submit_orders": "operator"}
RANK = {"monitor": 0, "operator": 1, "admin": 2}


class FakeCore:
    def __init__(self, home: Path, flaws: set[str] | frozenset[str] = frozenset(), *, health_ms: int = 200) -> None:
        self.flaws = set(flaws)
        self.keys_dir = home / "keys"
        generate_keyset(self.keys_dir)
        self.registry = KeyRegistry.load(self.keys_dir)
        self.ctx = zmq.Context()
        self.auth = ServerAuth(self.ctx, self.registry)
        if "accept_unknown_keys" in self.flaws:
            self.auth._auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
        self.health_ms = health_ms
        self.epoch, self.seq, self.sv = 1, 0, 0
        self.kill: dict[str, Any] = {"firm": "ACTIVE", "account": {}, "symbol": {}, "venue": {}}
        self.state_unknown = False
        self.applied: dict[str, tuple[str, bytes, dict[str, Any]]] = {}
        self.journal: dict[int, list[np.ndarray]] = {1: []}
        self.last_ts = 0
        self._jobs: queue.Queue[tuple[str, threading.Event]] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.endpoints: Endpoints | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "fake core did not bind"

    # --- lifecycle -----------------------------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.auth.stop()
        self.ctx.destroy(linger=0)

    def restart(self) -> dict[str, Any]:
        """The suite's restart step: a new epoch; the state kept (or lost, with flaw forget_state)."""
        done = threading.Event()
        self._jobs.put(("restart", done))
        assert done.wait(10)
        return {"exit_code": 0}

    def _do_restart(self) -> None:
        self.epoch += 1
        self.seq = 0
        self.journal[self.epoch] = []
        if "forget_state" in self.flaws:
            self.kill = {"firm": "HALTED", "account": {}, "symbol": {}, "venue": {}}
            self.state_unknown, self.sv, self.applied = True, 0, {}

    # --- the loop ------------------------------------------------------------------------------------------
    def _bind(self, kind: int) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.linger = 0
        configure_server(s, server_keypair(self.keys_dir))
        s.bind("tcp://127.0.0.1:*")
        return s

    def _run(self) -> None:
        control, rewind = self._bind(zmq.ROUTER), self._bind(zmq.ROUTER)
        self.telemetry, self.dropcopy = self._bind(zmq.PUB), self._bind(zmq.PUB)
        self.endpoints = Endpoints(*(s.getsockopt_string(zmq.LAST_ENDPOINT)
                                     for s in (control, self.telemetry, self.dropcopy, rewind)))
        self._ready.set()
        poller = zmq.Poller()
        poller.register(control, zmq.POLLIN)
        poller.register(rewind, zmq.POLLIN)
        hb_every = 0.3 if "slow_heartbeat" in self.flaws else 0.1
        next_hb = next_health = time.monotonic()
        try:
            while not self._stop.is_set():
                for sock in dict(poller.poll(10)):
                    frames = sock.recv_multipart(copy=False)
                    rid, body = frames[0].bytes, [f.bytes for f in frames[1:]]
                    user = frames[-1].get("User-Id")
                    out = self._control(body, user) if sock is control else self._rewind(body)
                    for msg in out:
                        sock.send_multipart([rid, *msg])
                while not self._jobs.empty():
                    job, done = self._jobs.get()
                    self._do_restart()
                    done.set()
                now = time.monotonic()
                if now >= next_hb:
                    next_hb = now + hb_every
                    if "no_heartbeat" not in self.flaws:
                        self._publish(b"hb", {"node": "fake", "epoch": self.epoch, "last_seq": self.seq,
                                              "state_version": self.sv, "core_time_ns": time.time_ns(),
                                              "trading_state": self.kill["firm"], "ha_role": "active",
                                              "stream_remaining": 0})
                if now >= next_health:
                    next_health = now + self.health_ms / 1000
                    failures = 0 if "no_auth_count" in self.flaws else self.auth.failures
                    self._publish(b"health", {"node": "fake", "epoch": self.epoch, "auth_failures": failures})
        finally:
            for s in (control, rewind, self.telemetry, self.dropcopy):
                s.close(0)

    def _publish(self, topic: bytes, doc: dict[str, Any]) -> None:
        self.telemetry.send_multipart([topic, orjson.dumps(doc)])

    def _emit(self, **fields: Any) -> None:
        rec = new_events(1)
        self.seq += 1
        self.last_ts = max(self.last_ts + 1, time.time_ns())
        rec["seq"], rec["ts_ns"], rec["epoch"] = self.seq, self.last_ts, self.epoch
        for k, v in fields.items():
            rec[k] = v
        self.journal[self.epoch].append(rec)
        if not ("drop_live" in self.flaws and self.seq % 3 == 0):
            self.dropcopy.send_multipart([b"dc", *encode_batch(rec)])

    # --- control -------------------------------------------------------------------------------------------
    def _reply(self, rid: str, code: str = "OK", result: dict[str, Any] | None = None, message: str = ""
               ) -> dict[str, Any]:
        return {"v": 2, "id": rid, "ok": code == "OK", "code": code, "state_version": self.sv,
                "result": result or {}, "message": message, "durable_version": self.sv}

    def _control(self, body: list[bytes], user: str) -> list[list[bytes]]:
        return [[orjson.dumps(self._handle(body, user))]]

    def _handle(self, body: list[bytes], user: str) -> dict[str, Any]:
        if len(body) != 1:
            return self._reply("", "MSG_MALFORMED")
        try:
            obj = orjson.loads(body[0])
        except orjson.JSONDecodeError:
            return self._reply("", "MSG_MALFORMED")
        if not isinstance(obj, dict):
            return self._reply("", "MSG_MALFORMED")
        rid = obj.get("id") if isinstance(obj.get("id"), str) and 0 < len(obj["id"]) <= 128 else ""
        lenient = "lenient_types" in self.flaws
        for key, typ in (("v", int), ("cmd", str), ("id", str), ("operator", str), ("reason", str),
                         ("expires_ns", int)):
            val = obj.get(key)
            if lenient and key in ("v", "expires_ns") and isinstance(val, str | float):
                obj[key] = int(float(val))
            elif not isinstance(val, typ) or isinstance(val, bool):
                return self._reply(rid, "MSG_MALFORMED")
        args = obj.get("args", {})
        if not isinstance(args, dict) or not rid:
            return self._reply(rid, "MSG_MALFORMED")
        cmd = obj["cmd"]
        if cmd not in ROLES:
            return self._reply(rid, "MSG_UNKNOWN_COMMAND")
        if obj["v"] not in CONTROL_VERSIONS and "no_version_check" not in self.flaws:
            return self._reply(rid, "MSG_VERSION_UNSUPPORTED")
        ident = self.registry.lookup(user)
        role = ident.role.value if ident is not None else "monitor"
        if RANK[role] < RANK[ROLES[cmd]] and "no_role_check" not in self.flaws:
            return self._reply(rid, "AUTH_ROLE_DENIED")
        mutating = ROLES[cmd] == "operator"
        canon = orjson.dumps(args, option=orjson.OPT_SORT_KEYS)
        if mutating and rid in self.applied:
            pcmd, pargs, reply = self.applied[rid]
            if pcmd != cmd or (pargs != canon and "replay_other_args" not in self.flaws):
                return self._reply(rid, "MSG_ARGS_INVALID")
            return reply
        if obj["expires_ns"] < time.time_ns() and "apply_expired" not in self.flaws:
            return self._reply(rid, "MSG_EXPIRED")
        if cmd == "hello":
            return self._reply(rid, result={"protocol": obj["v"], "core_id": "fake-core", "node": "fake",
                                            "epoch": self.epoch, "identity": ident.name if ident else "?",
                                            "role": role})
        if cmd == "status":
            return self._reply(rid, result={"node": "fake", "ha_role": "active", "trading_state": self.kill["firm"],
                                            "kill": self.kill, "last_seq": self.seq, "epoch": self.epoch,
                                            "state_version": self.sv, "state_unknown": self.state_unknown,
                                            "auth_failures": 0 if "no_auth_count" in self.flaws
                                            else self.auth.failures})
        if cmd == "submit_orders":
            self.sv += 1
            reply = self._reply(rid, result={"results": [self._order(o) for o in args.get("orders") or []]})
            self.applied[rid] = (cmd, canon, reply)
            return reply
        scope, key, level = args.get("scope"), args.get("key"), args.get("level")
        if scope not in ("firm", "symbol") or (scope == "firm") != (key is None):
            return self._reply(rid, "MSG_ARGS_INVALID")
        if cmd == "cancel_all":
            if "block_cancels" in self.flaws and self.kill["firm"] != "ACTIVE":
                return self._reply(rid, f"KILL_{self.kill['firm']}")
            result: dict[str, Any] = {"cancelled": 0}
        else:
            if level not in KillLevel.__members__:
                return self._reply(rid, "MSG_ARGS_INVALID")
            previous = self.kill["firm"] if scope == "firm" else self.kill["symbol"].get(key, "ACTIVE")
            if "toggle" in self.flaws and previous == level:
                level = "ACTIVE"
            if scope == "firm":
                self.kill["firm"] = level
                self.state_unknown = False
            elif level == "ACTIVE":
                self.kill["symbol"].pop(key, None)
            else:
                self.kill["symbol"][key] = level
            if previous != level:
                self._emit(etype=EventType.KILL_STATE_CHANGED, qty=KILL_SCOPE_CODES[KillScope(scope)],
                           price=int(KillLevel[level]), symbol=(key or "").encode())
            result = {"scope": scope, "key": key, "level": level, "previous": previous}
        self.sv += 1
        reply = self._reply(rid, result=result)
        self.applied[rid] = (cmd, canon, reply)
        return reply

    def _order(self, o: Any) -> dict[str, Any]:
        if not isinstance(o, dict):
            return {"clordid": 0, "order_id": 0, "ok": False, "code": "ORDER_INVALID"}
        if o.get("action") == "cancel":
            return {"clordid": 0, "order_id": o.get("order_id", 0), "ok": False, "code": "ORDER_UNKNOWN"}
        flatten = o.get("flatten", False)
        bad = not isinstance(flatten, bool) or (flatten and o.get("ord_type") != "LIMIT")
        code = "ORDER_INVALID" if bad and "flatten_lenient" not in self.flaws else "RESTRICTED_ACCOUNT_UNKNOWN"
        return {"clordid": o.get("clordid", 0), "order_id": 0, "ok": False, "code": code}

    # --- rewind --------------------------------------------------------------------------------------------
    def _rewind(self, body: list[bytes]) -> list[list[bytes]]:
        def end(epoch: Any, code: str) -> list[list[bytes]]:
            held = len(self.journal.get(epoch, [])) if isinstance(epoch, int) else 0
            return [[orjson.dumps({"end": True, "epoch": epoch, "last_seq": held, "code": code})]]

        try:
            req = orjson.loads(body[0]) if len(body) == 1 else None
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict) or not all(isinstance(req.get(k), int) for k in ("epoch", "from_seq", "to_seq")):
            return end(None, "MSG_MALFORMED")
        epoch, lo, hi = req["epoch"], req["from_seq"], req["to_seq"]
        if epoch not in self.journal:
            return end(epoch, "REWIND_EPOCH_UNKNOWN")
        held = len(self.journal[epoch])
        if lo < 1 or hi < lo or hi > held:
            if "rewind_lenient" not in self.flaws:
                return end(epoch, "REWIND_OUT_OF_RANGE")
            lo, hi = max(1, lo), min(held, hi)
        recs = np.concatenate(self.journal[epoch][lo - 1:hi]) if hi >= lo else new_events(0)
        if "no_replay_flag" not in self.flaws:
            recs["flags"] |= np.uint8(EventFlag.REPLAY)
        out = [list(encode_batch(recs[i:i + REWIND_CHUNK])) for i in range(0, len(recs), REWIND_CHUNK)]
        return out + end(epoch, "OK")
