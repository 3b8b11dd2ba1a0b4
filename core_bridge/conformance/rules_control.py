"""Rules on the control socket: handshake and version, keys and roles, idempotency, levels, cancels, expiry,
malformed frames (docs/protocol.md §1-§5).

Every rule that could change state checks `state_version` and the kill levels around what it sent; the
only scope it touches is the suite's own symbol (and, for cancels, the firm level, restored after).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import zmq

from core_bridge.conformance.peer import core_fields
from core_bridge.conformance.result import Evidence, rule
from core_bridge.conformance.session import CONTROL_VERSIONS, Session
from core_bridge.protocol import KILL_SCOPE_CODES, EventType, KillLevel, KillScope

HELLO_FIELDS = ("protocol", "core_id", "node", "epoch", "identity", "role")
LEVELS = ("ACTIVE", "REDUCE_ONLY", "CANCEL_ONLY", "HALTED")


def _sv(reply: dict[str, Any]) -> Any:
    return reply.get("state_version")


def _other_diffs(a: dict[str, Any], b: dict[str, Any] | None) -> list[str]:
    """Reply fields outside the compared ones that differ between an original and its replay (noted only)."""
    compared = core_fields(a) or {}
    return sorted(k for k in set(a) | set(b or {}) if k not in compared and a.get(k) != (b or {}).get(k))


def _refused(reply: dict[str, Any] | None, code: str) -> bool:
    return reply is not None and reply.get("ok") is False and reply.get("code") == code


@rule("handshake", "§2, §3.2")
def handshake(s: Session, ev: Evidence) -> str:
    v = s.peer.version
    ev.note(negotiation=s.negotiation)
    ev.check(f"the core accepts a control version this side speaks ({', '.join(map(str, CONTROL_VERSIONS))})",
             any(n.get("ok") for n in s.negotiation), tried=[n.get("v") for n in s.negotiation])
    mon = s.peer.must("hello", identity=s.mon)
    res = mon.get("result") or {}
    ev.check(f"hello v={v} acknowledged OK", mon.get("ok") is True and mon.get("code") == "OK", reply=mon)
    ev.check(f"hello says protocol {v}", res.get("protocol") == v, protocol=res.get("protocol"))
    ev.check("hello result has every field of §2", all(k in res for k in HELLO_FIELDS),
             missing=[k for k in HELLO_FIELDS if k not in res])
    ev.check("the monitor key is seen as monitor", res.get("role") == "monitor", role=res.get("role"))
    op = s.peer.must("hello", identity=s.op)
    ev.check("the operator key is seen as operator", (op.get("result") or {}).get("role") == "operator",
             role=(op.get("result") or {}).get("role"))
    before = s.status()
    bad_versions = (0, max(CONTROL_VERSIONS) + 1000)
    for bad in bad_versions:
        for cmd, args in (("hello", {}), ("set_kill", s.kill_args("HALTED"))):
            rid, frame = s.peer.frame(cmd, args, v=bad)
            s.symbol_changed |= cmd == "set_kill"
            r = s.peer.send(rid, frame, s.op)
            ev.check(f"{cmd} with v={bad} refused MSG_VERSION_UNSUPPORTED with its id",
                     _refused(r, "MSG_VERSION_UNSUPPORTED") and r is not None and r.get("id") == rid, reply=r)
    after = s.status()
    ev.check("nothing applied under an unsupported version", _sv(after) == _sv(before)
             and s.symbol_level(after) == s.symbol_level(before),
             state_version=[_sv(before), _sv(after)], level=s.symbol_level(after))
    return (f"core {res.get('core_id')} node {res.get('node')} epoch {res.get('epoch')} speaks v{v}; "
            f"v={bad_versions[0]} and v={bad_versions[1]} refused")


@rule("unknown_key", "§1 Security")
def unknown_key(s: Session, ev: Evidence) -> str:
    cfg = s.config
    health = s.peer.subscribe("telemetry", (b"health",), s.mon)
    # Read the count before the stranger connects: its handshake fails at connect time, not at its first send.
    before = (s.status().get("result") or {}).get("auth_failures")
    stranger, mon = s.peer.stranger("control")
    try:
        ev.check("status carries auth_failures (an integer)", isinstance(before, int) and not isinstance(before, bool),
                 auth_failures=before)
        rid, frame = s.peer.frame("status", {})
        stranger.send(frame)
        t0 = time.monotonic()
        answered = bool(stranger.poll(int(cfg.unknown_key_wait_s * 1000)))
        events = s.peer.monitor_events(mon)
        ev.check(f"a key not in roles.json gets no reply within {cfg.unknown_key_wait_s} s", not answered,
                 waited_s=round(time.monotonic() - t0, 3), reply=stranger.recv() if answered else None)
        ev.note(handshake_failed_events=len(events))
        if not isinstance(before, int):
            return "auth_failures missing"
        counted = before
        end = time.monotonic() + cfg.count_wait_s
        while time.monotonic() < end and counted <= before:
            counted = (s.status().get("result") or {}).get("auth_failures", before)
            if counted <= before:
                time.sleep(0.05)  # polling interval of a bounded wait
        ev.check("status.auth_failures counts the refused handshake", counted > before,
                 before=before, after=counted)
        seen = None
        end = time.monotonic() + cfg.count_wait_s
        while (left := end - time.monotonic()) > 0 and health.poll(max(1, int(left * 1000))):
            doc = _loads_tail(health.recv_multipart())
            seen = doc.get("auth_failures") if isinstance(doc, dict) else None
            if isinstance(seen, int) and seen > before:
                break
        ev.check("the health telemetry carries the count", isinstance(seen, int) and seen > before,
                 health_auth_failures=seen)
        return f"no reply in {cfg.unknown_key_wait_s} s; auth_failures {before} -> {counted} (health {seen})"
    finally:
        stranger.close(0)
        mon.close(0)
        health.close(0)


def _loads_tail(frames: list[bytes]) -> Any:
    try:
        return orjson.loads(frames[-1])
    except orjson.JSONDecodeError:
        return None


@rule("role_refusal", "§1 Roles, §3.3")
def role_refusal(s: Session, ev: Evidence) -> str:
    before = s.status()
    rid = s.peer.rid("monitor-kill")
    r = s.set_symbol("HALTED", identity=s.mon, rid=rid)
    ev.check("a monitor key's set_kill is refused AUTH_ROLE_DENIED", _refused(r, "AUTH_ROLE_DENIED"), reply=r)
    ev.check("the refusal carries the unchanged state_version", _sv(r) == _sv(before),
             reply_state_version=_sv(r), before=_sv(before))
    c = s.peer.must("cancel_all", {"scope": "symbol", "key": s.config.symbol}, identity=s.mon)
    ev.check("a monitor key's cancel_all is refused AUTH_ROLE_DENIED", _refused(c, "AUTH_ROLE_DENIED"), reply=c)
    p = s.peer.must("set_preborrow", {"date": "2026-01-02", "symbols": {s.config.symbol: 0}}, identity=s.mon)
    # a core that does not serve the penalty box may say so instead (refcore, docs/core_sdk.md); never apply it
    ev.check("a monitor key's set_preborrow (Rule 204(b) penalty box) is refused AUTH_ROLE_DENIED "
             "(or MSG_UNKNOWN_COMMAND by a core without it)",
             _refused(p, "AUTH_ROLE_DENIED") or _refused(p, "MSG_UNKNOWN_COMMAND"), reply=p)
    after = s.status()
    ev.check("state_version and kill levels unchanged", _sv(after) == _sv(before)
             and (after.get("result") or {}).get("kill") == (before.get("result") or {}).get("kill"),
             state_version=[_sv(before), _sv(after)])
    again = s.set_symbol("HALTED", rid=rid)
    ev.check("the refused id is not remembered: the operator's request under it is applied",
             again.get("ok") is True and _sv(again) == _sv(before) + 1, reply=again)
    return "monitor refused AUTH_ROLE_DENIED, nothing changed; the id was then usable"


@rule("idempotent_retry", "§3.4")
def idempotent_retry(s: Session, ev: Evidence) -> str:
    s.set_symbol("ACTIVE")
    rid, frame = s.peer.frame("set_kill", s.kill_args("REDUCE_ONLY"), ttl_s=1.5)
    expires_ns = orjson.loads(frame)["expires_ns"]
    s.symbol_changed = True
    first = s.peer.send(rid, frame, s.op)
    ev.check("the first send is applied", first is not None and first.get("ok") is True, reply=first)
    if first is None:
        return "no reply"
    second = s.peer.send(rid, frame, s.op)
    ev.check("the same frame again replays the original reply", core_fields(second) == core_fields(first),
             first=core_fields(first), retry=core_fields(second), not_compared=_other_diffs(first, second))
    st = s.status()
    ev.check("applied once: status state_version is the first reply's", _sv(st) == _sv(first),
             status=_sv(st), first=_sv(first))
    _rid, other = s.peer.frame("set_kill", s.kill_args("HALTED"), rid=rid)
    r = s.peer.send(rid, other, s.op)
    ev.check("same id, same command, other args: refused MSG_ARGS_INVALID", _refused(r, "MSG_ARGS_INVALID"),
             reply=r)
    _rid, other_cmd = s.peer.frame("cancel_all", {"scope": "symbol", "key": s.config.symbol}, rid=rid)
    r2 = s.peer.send(rid, other_cmd, s.op)
    ev.check("same id, other command: refused MSG_ARGS_INVALID", _refused(r2, "MSG_ARGS_INVALID"), reply=r2)
    st2 = s.status()
    ev.check("the refusals changed nothing", _sv(st2) == _sv(first) and s.symbol_level(st2) == "REDUCE_ONLY",
             state_version=_sv(st2), level=s.symbol_level(st2))
    time.sleep(max(0.0, (expires_ns - time.time_ns()) / 1e9) + 0.05)  # until the frame's expires_ns has passed
    late = s.peer.send(rid, frame, s.op)
    ev.check("a retry after expires_ns still replays the original reply", core_fields(late) == core_fields(first),
             retry=core_fields(late))
    ev.check("still applied once", _sv(s.status()) == _sv(first))
    return f"replayed at state_version {_sv(first)}; other args and other command refused MSG_ARGS_INVALID"


@rule("levels_set_not_toggled", "§4 Semantics, §6")
def levels_set_not_toggled(s: Session, ev: Evidence) -> str:
    s.set_symbol("ACTIVE")
    st0 = s.status()
    r1 = s.set_symbol("HALTED")
    r2 = s.set_symbol("HALTED")
    ev.check("both set_kill HALTED are applied", r1.get("ok") is True and r2.get("ok") is True,
             replies=[core_fields(r1), core_fields(r2)])
    ev.check("the second is applied with a new state_version", isinstance(_sv(r1), int)
             and _sv(r2) == _sv(r1) + 1, state_versions=[_sv(r1), _sv(r2)])
    res2 = r2.get("result") or {}
    ev.check("the second says previous HALTED, level HALTED", (res2.get("previous"), res2.get("level"))
             == ("HALTED", "HALTED"), result=res2)
    st1 = s.status()
    ev.check("status shows the symbol HALTED (not toggled back)", s.symbol_level(st1) == "HALTED",
             level=s.symbol_level(st1))
    res0, res1 = st0.get("result") or {}, st1.get("result") or {}
    epoch, lo, hi = res1.get("epoch"), int(res0.get("last_seq") or 0) + 1, int(res1.get("last_seq") or 0)
    kills = []
    if hi >= lo and res0.get("epoch") == epoch:
        ans = s.rewind(epoch, lo, hi)
        if ans.records is not None:
            sym = s.config.symbol.encode()
            recs = ans.records
            mask = ((recs["etype"] == EventType.KILL_STATE_CHANGED) & (recs["symbol"] == sym)
                    & (recs["qty"] == KILL_SCOPE_CODES[KillScope.SYMBOL]))
            kills = [{"seq": int(r["seq"]), "level": int(r["price"])} for r in recs[mask]]
        ev.note(rewind_code=(ans.end or {}).get("code"), rewind_error=ans.error)
    ev.check("exactly one KILL_STATE_CHANGED (to HALTED) for the two sets", len(kills) == 1
             and kills[0]["level"] == KillLevel.HALTED, events=kills, seq_range=[lo, hi])
    s.set_symbol("ACTIVE")
    st2 = s.status()
    kill = (st2.get("result") or {}).get("kill") or {}
    ev.check("ACTIVE removes the symbol's entry", s.config.symbol not in (kill.get("symbol") or {}),
             kill_symbol=kill.get("symbol"))
    return f"HALTED twice: still HALTED, {len(kills)} event (seq {kills[0]['seq'] if kills else '-'})"


@rule("cancels_never_blocked", "§5")
def cancels_never_blocked(s: Session, ev: Evidence) -> str:
    firm = (s.status().get("result") or {}).get("kill", {}).get("firm")
    s.firm_level = firm if firm in LEVELS else "HALTED"
    orders_served = True
    for level in LEVELS:
        r = s.set_kill("firm", None, level)
        ev.check(f"firm set to {level}", r.get("ok") is True, reply=core_fields(r))
        c = s.peer.must("cancel_all", {"scope": "symbol", "key": s.config.symbol}, identity=s.op)
        ev.check(f"cancel_all acknowledged OK at firm {level}", c.get("ok") is True and c.get("code") == "OK",
                 reply=core_fields(c))
        if orders_served:
            o = s.peer.must("submit_orders", {"orders": [{"action": "cancel", "order_id": 1}]}, identity=s.op)
            if o.get("code") == "MSG_UNKNOWN_COMMAND":
                orders_served = False
                ev.note(submit_orders="not served by this core: order cancels not tried")
                continue
            entries = (o.get("result") or {}).get("results") or [{}]
            code = str(entries[0].get("code"))
            ev.check(f"an order cancel at firm {level} is not blocked by a kill, halt or limit",
                     o.get("ok") is True and not code.startswith(("KILL_", "HALT_", "LIMIT_")), reply=core_fields(o))
    return f"cancel_all OK at every level{'; order cancels too' if orders_served else ''} (firm back to {firm})"


@rule("expiry", "§3.5")
def expiry(s: Session, ev: Evidence) -> str:
    s.set_symbol("ACTIVE")
    before = s.status()
    rid, frame = s.peer.frame("set_kill", s.kill_args("HALTED"), expires_ns=time.time_ns() - 1_000_000_000)
    s.symbol_changed = True
    r = s.peer.send(rid, frame, s.op)
    ev.check("a request past its expires_ns is refused MSG_EXPIRED", _refused(r, "MSG_EXPIRED"), reply=r)
    after = s.status()
    ev.check("nothing applied", _sv(after) == _sv(before) and s.symbol_level(after) == "ACTIVE",
             state_version=[_sv(before), _sv(after)], level=s.symbol_level(after))
    fresh = s.set_symbol("HALTED", rid=rid)
    ev.check("the refused id is not remembered: a fresh request under it is applied", fresh.get("ok") is True,
             reply=core_fields(fresh))
    return "expired request refused MSG_EXPIRED, nothing applied"


def fuzz_cases(s: Session) -> list[tuple[str, list[bytes], str | None]]:
    """(name, frames, expected reply id or None for "not checked"): each would set the suite's symbol
    CANCEL_ONLY if a core applied it anyway."""
    expires_ns = time.time_ns() + 30 * 10**9
    good: dict[str, Any] = {"v": s.peer.version, "cmd": "set_kill", "id": "fuzz-id", "operator": "conformance",
                            "reason": "fuzz", "expires_ns": expires_ns, "args": s.kill_args("CANCEL_ONLY")}

    def with_(**kw: Any) -> bytes:
        doc = {**good, **kw}
        return orjson.dumps({k: v for k, v in doc.items() if v is not ...})

    body = with_()
    return [
        ("truncated JSON", [body[: len(body) // 2]], ""),
        ("not UTF-8", [b"\xff\xfe\x00garbage"], ""),
        ("a JSON array", [b"[1, 2, 3]"], ""),
        ("JSON null", [b"null"], ""),
        ("v as a string", [with_(v=str(s.peer.version))], "fuzz-id"),
        ("v as a bool", [with_(v=True)], "fuzz-id"),
        ("cmd as a number", [with_(cmd=4)], "fuzz-id"),
        ("id as a number", [with_(id=7)], ""),
        ("operator missing", [with_(operator=...)], "fuzz-id"),
        ("expires_ns as a string", [with_(expires_ns=str(expires_ns))], "fuzz-id"),
        ("expires_ns as a float", [with_(expires_ns=float(expires_ns))], "fuzz-id"),
        ("args as a list", [with_(args=[s.kill_args("CANCEL_ONLY")])], "fuzz-id"),
        ("id empty", [with_(id="")], ""),
        ("id of 129 characters", [with_(id="x" * 129)], ""),
        ("huge frame (2 MiB id)", [with_(id="A" * (2 << 20))], ""),
        ("deeply nested args", [body[:-1] + b',"deep":' + b"[" * 5000 + b"]" * 5000 + b"}"], None),
        ("one empty frame", [b""], ""),
        ("empty frame before the body", [b"", body], None),
        ("two empty frames", [b"", b""], None),
        ("body then an empty frame", [body, b""], None),
    ]


@rule("malformed_frames", "§3.1")
def malformed_frames(s: Session, ev: Evidence) -> str:
    s.set_symbol("ACTIVE")
    before = s.status()
    answered = dropped = 0
    s.symbol_changed = True
    for name, frames, want_id in fuzz_cases(s):
        try:
            r = s.peer.raw(frames, s.op)
        except zmq.ZMQError as exc:
            r = None
            ev.note(**{f"send error ({name})": str(exc)})
        if r is None:
            dropped += 1
            ev.check(f"{name}: dropped", True)
            continue
        answered += 1
        ok = isinstance(r, dict) and r.get("ok") is False and r.get("code") == "MSG_MALFORMED"
        id_ok = want_id is None or (isinstance(r, dict) and r.get("id") == want_id)
        shown = r if isinstance(r, dict) else repr(r[:200])
        ev.check(f"{name}: answered MSG_MALFORMED" + ("" if want_id is None else f" with id {want_id!r}"),
                 ok and id_ok, reply=shown)
    after = s.status()
    ev.check("the core still serves and nothing was applied", _sv(after) == _sv(before)
             and s.symbol_level(after) == "ACTIVE", state_version=[_sv(before), _sv(after)],
             level=s.symbol_level(after))
    return f"{answered} answered MSG_MALFORMED, {dropped} dropped, state_version unchanged"


@rule("flatten_orders", "§4 Orders, §5")
def flatten_orders(s: Session, ev: Evidence) -> str:
    """A `flatten` order (the kill-to-flat flow) must be a LIMIT order with a boolean flag; nothing is sent to a
    venue (the account is the suite's own symbol, unknown to the core), so no state but state_version moves."""
    base = {"action": "new", "clordid": 1, "account": s.config.symbol, "symbol": s.config.symbol, "side": "SELL",
            "qty": 1, "tif": "IOC", "venue": "NSDQ"}
    bad = [{**base, "ord_type": "MARKET", "price": None, "flatten": True},
           {**base, "clordid": 2, "ord_type": "LIMIT", "price": "1.00", "flatten": "yes"}]
    o = s.peer.must("submit_orders", {"orders": bad}, identity=s.op)
    if o.get("code") == "MSG_UNKNOWN_COMMAND":
        ev.note(submit_orders="not served by this core: flatten orders not tried")
        ev.check("a core without order entry refuses submit_orders (MSG_UNKNOWN_COMMAND, ok false)",
                 o.get("ok") is False, reply=core_fields(o))
        return "submit_orders not served: no order entry to check"
    codes = [str(r.get("code")) for r in (o.get("result") or {}).get("results") or [{}, {}]]
    ev.check("submit_orders with malformed flatten entries acknowledged OK", o.get("ok") is True,
             reply=core_fields(o))
    ev.check("a flatten MARKET order is refused ORDER_INVALID (it must be a LIMIT order, the collar bounds it)",
             codes[:1] == ["ORDER_INVALID"], codes=codes)
    ev.check("a flatten field that is not a boolean is refused ORDER_INVALID", codes[1:2] == ["ORDER_INVALID"],
             codes=codes)
    return "malformed flatten entries refused ORDER_INVALID"
