"""Kill to flat, wired: the audited client, a drop-copy SUB (gaps filled by rewind), the marks telemetry.

Why it reads the drop copy and not the replies: a reply says what the core asked for; the records say what
the venues did. The SUB is connected before anything is sent and the snapshot taken after, so every record
after the snapshot's `last_seq` is this flow's to read; a record the SUB missed (the subscription was still
joining, a burst over the high-water mark) is fetched by rewind before the machine sees a later one, so the
machine always reads a gapless run. Every command goes through `CoreClient` (audited: who, what, why).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import zmq

from core_bridge.client.keyfile import read_curve_key
from core_bridge.errors import BridgeError, CommandError
from core_bridge.killflat.machine import FlattenFlow, Phase
from core_bridge.killflat.timeline import Timeline
from core_bridge.protocol import DROPCOPY_TOPIC, TELEMETRY_TOPIC_MARKS, KillLevel, KillScope, decode_batch

Hook = Callable[[str, FlattenFlow], None]


@dataclass
class FlattenConfig:
    dropcopy_endpoint: str
    rewind_endpoint: str
    telemetry_endpoint: str
    keys_dir: Path
    identity: str = "operator"
    cancel_deadline_s: float = 5.0  # every venue confirms its cancels within this, or the outcome is partial
    flat_deadline_s: float = 10.0  # positions reach zero by the drop copy within this
    max_rounds: int = 3  # flatten rounds (an IOC remainder that expired is sent again)
    marks_wait_s: float = 3.0  # the twin publishes marks every second

    @classmethod
    def beside(cls, control: str, keys_dir: Path, identity: str = "operator", **kw: Any) -> FlattenConfig:
        """Endpoints by the default port layout: telemetry +1, drop copy +2, rewind +3 of the control port."""
        head, _, port = control.rpartition(":")
        if not port.isdigit():
            raise ValueError(f"cannot derive the drop-copy endpoints from {control!r}")
        p = int(port)
        return cls(f"{head}:{p + 2}", f"{head}:{p + 3}", f"{head}:{p + 1}", keys_dir, identity, **kw)


class _Feed:
    """The drop copy in order from `flow.next_seq`: live batches, and rewind for what they skipped."""

    def __init__(self, cfg: FlattenConfig, ctx: zmq.Context, flow_epoch: int) -> None:
        self.cfg, self.ctx, self.epoch = cfg, ctx, flow_epoch
        pub, sec = read_curve_key(cfg.keys_dir / "clients" / f"{cfg.identity}.key_secret")
        self._keys = (pub, sec or b"", read_curve_key(cfg.keys_dir / "core.key")[0])
        self.sub = self._socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, DROPCOPY_TOPIC)
        self.sub.rcvhwm = 200_000
        self.sub.connect(cfg.dropcopy_endpoint)
        self.rewinds = 0

    def _socket(self, kind: int) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.linger = 0
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = self._keys
        return s

    def pump(self, flow: FlattenFlow, upto: int | None, wait_ms: int) -> None:
        """Feed what arrives within `wait_ms`; then rewind anything up to `upto` still missing."""
        deadline = time.monotonic() + wait_ms / 1000
        while (left := deadline - time.monotonic()) > 0:
            if upto is not None and flow.next_seq > upto:
                break
            if not self.sub.poll(max(1, int(left * 1000))):
                break
            frames = self.sub.recv_multipart(copy=True)
            if len(frames) != 3 or frames[0] != DROPCOPY_TOPIC:
                continue
            try:
                hdr, recs = decode_batch(frames[1], frames[2])
            except ValueError:
                continue
            if hdr.epoch != flow.epoch:
                raise BridgeError(f"the core began epoch {hdr.epoch} during the flatten (it restarted)")
            last = hdr.first_seq + hdr.count - 1
            if last < flow.next_seq:
                continue
            if hdr.first_seq > flow.next_seq:
                self.rewind(flow, hdr.first_seq - 1)
            flow.on_records(recs)
        if upto is not None and flow.next_seq <= upto:
            self.rewind(flow, upto)

    def rewind(self, flow: FlattenFlow, to_seq: int) -> None:
        d = self._socket(zmq.DEALER)
        d.connect(self.cfg.rewind_endpoint)
        self.rewinds += 1
        try:
            d.send(orjson.dumps({"v": 1, "epoch": flow.epoch, "from_seq": flow.next_seq, "to_seq": to_seq}))
            while True:
                if not d.poll(3000):
                    raise BridgeError(f"rewind {flow.epoch}/{flow.next_seq}..{to_seq}: no reply in 3 s")
                parts = d.recv_multipart(copy=True)
                if len(parts) == 1:
                    end = orjson.loads(parts[0])
                    if end.get("code") != "OK":
                        raise BridgeError(f"rewind {flow.epoch}/{flow.next_seq}..{to_seq}: {end.get('code')}")
                    return
                _hdr, recs = decode_batch(parts[0], parts[1])
                flow.on_records(recs)
        finally:
            d.close(0)

    def close(self) -> None:
        self.sub.close(0)


def _marks(cfg: FlattenConfig, ctx: zmq.Context) -> dict[str, Decimal]:
    """The latest marks message (protocol §9 `marks`), or {} when none comes in `marks_wait_s`."""
    from core_bridge.telemetry import TelemetrySubscriber

    sub = TelemetrySubscriber(cfg.telemetry_endpoint, cfg.keys_dir, cfg.identity, topics=(TELEMETRY_TOPIC_MARKS,),
                              context=ctx)
    try:
        deadline = time.monotonic() + cfg.marks_wait_s
        while (left := deadline - time.monotonic()) > 0:
            got = sub.recv(left * 1000)
            if got is not None and isinstance(got[1].get("marks"), dict):
                return {str(s): Decimal(str(p)) for s, p in got[1]["marks"].items()}
        return {}
    finally:
        sub.close()


def _limits_for(snapshot: dict[str, Any], account: str | None) -> tuple[Decimal, int, Decimal | None]:
    """(price_collar_pct, max_order_qty, max_order_notional) in force for an account (the tightest over the
    scope's accounts)."""
    limits = snapshot.get("limits") or {}
    firm = limits.get("firm") or {}
    rows = [{**firm, **(limits.get(account) or {})}] if account else [
        {**firm, **(v or {})} for k, v in limits.items() if k != "firm"] or [firm]
    collar = min(Decimal(str(r.get("price_collar_pct", "5"))) for r in rows)
    qty = min(int(r.get("max_order_qty", 10_000)) for r in rows)
    notionals = [Decimal(str(r["max_order_notional"])) for r in rows if r.get("max_order_notional") is not None]
    return collar, qty, min(notionals) if notionals else None


def run_flatten(client: Any, cfg: FlattenConfig, scope: KillScope, key: str | None, reason: str, *,
                idempotency_key: str | None = None, hook: Hook | None = None) -> dict[str, Any]:
    """HALTED -> cancel-all -> cancels confirmed per venue -> flatten orders -> flat. Returns the report doc."""
    if scope is KillScope.VENUE:
        raise ValueError("--flatten needs a firm, account or symbol scope (positions are not kept per venue)")
    started = time.time_ns()
    idem = idempotency_key or f"flatten:{scope.value}:{key or 'firm'}:{started}"
    why = f"kill to flat: {reason}"
    ctx: zmq.Context = client._ctx
    timeline = Timeline()
    snapshot = client.snapshot().result
    feed = _Feed(cfg, ctx, int(snapshot["epoch"]))
    try:
        snapshot = client.snapshot().result  # after the SUB is connected: every later record is ours to read
        flow = FlattenFlow.start(scope, key, snapshot, timeline)
        _step(flow, cfg, client, feed, snapshot, why, idem, hook)
    finally:
        feed.close()
    ended = time.time_ns()
    return {"scope": scope.value, "key": key, "operator": getattr(client, "operator", None), "reason": reason,
            "started_ns": started, "ended_ns": ended, "elapsed_ms": round((ended - started) / 1e6, 3),
            **flow.to_json(), "rewinds": feed.rewinds, "timeline": timeline.to_json(),
            "timeline_by_venue": timeline.by_venue()}


def _step(flow: FlattenFlow, cfg: FlattenConfig, client: Any, feed: _Feed, snapshot: dict[str, Any], why: str,
          idem: str, hook: Hook | None) -> None:
    def catch_up(wait_ms: int = 50) -> None:
        feed.pump(flow, int(client.status().result["last_seq"]), wait_ms)
        while flow.reassert:  # a looser level set during the flow: the tighter (HALTED) wins
            looser = flow.reassert.pop(0)
            sent = time.time_ns()
            client.set_kill(flow.scope, flow.key, KillLevel.HALTED, f"{why} (HALTED kept over {looser} set during"
                            " the flatten: the tighter level wins)", idempotency_key=f"{idem}:reassert:{flow.next_seq}")
            flow.reasserted(sent, looser)

    def phase(name: str) -> None:
        if hook is not None:
            hook(name, flow)

    # Entries the flow makes carry the time the command was sent: the records it causes come after it.
    sent = time.time_ns()
    r = client.set_kill(flow.scope, flow.key, KillLevel.HALTED, why, idempotency_key=f"{idem}:halt")
    flow.halted(sent, r.result.get("previous"))
    catch_up(0)
    phase("halted")
    sent = time.time_ns()
    c = client.cancel_all(flow.scope, flow.key, why, idempotency_key=f"{idem}:cancel")
    flow.cancels_listed(sent, c.result)
    deadline = time.monotonic() + cfg.cancel_deadline_s
    while not flow.cancels_confirmed() and time.monotonic() < deadline:
        catch_up(100)
    if not flow.cancels_confirmed():
        flow.cancel_timeout(time.time_ns(), cfg.cancel_deadline_s)
        return
    phase("cancelled")
    catch_up(0)
    marks = _marks(cfg, client._ctx) if not flow.is_flat() else {}
    collar, max_qty, max_notional = _limits_for(snapshot, flow.key if flow.scope is KillScope.ACCOUNT else None)
    venue_kills = (snapshot.get("kill") or {}).get("venue") or {}
    flow.phase = Phase.FLATTENING
    deadline = time.monotonic() + cfg.flat_deadline_s
    while not flow.is_flat() and flow.rounds < cfg.max_rounds and not flow.rejected:
        orders = flow.plan_orders(marks, collar, max_qty, venue_kills, (time.time_ns() // 1000) & 0xFFFFFFFFFFFF,
                                  max_notional)
        if not orders:
            break
        phase("flattening")
        catch_up(0)
        sent = time.time_ns()
        try:
            res = client.submit_orders(orders, why, idempotency_key=f"{idem}:flatten:{flow.rounds}")
        except CommandError as exc:  # a core without order entry (MSG_UNKNOWN_COMMAND): cancelled, not flat
            flow.finish(time.time_ns(), f"the core refused the flatten orders ({exc.code}): positions not flattened")
            return
        flow.submitted(sent, orders, list(res.result.get("results") or []))
        while not flow.round_done() and time.monotonic() < deadline:
            catch_up(100)
        catch_up(0)
        if not flow.round_done():
            open_ids = [fo.order_id for fo in flow.flatten.values() if fo.done is None]
            for oid in open_ids:  # never leave a flatten order working behind the flow
                client.submit_orders([{"action": "cancel", "order_id": oid}], why,
                                     idempotency_key=f"{idem}:cancel-flatten:{oid}")
            catch_up(100)
            flow.finish(time.time_ns(), f"flatten orders not done within {cfg.flat_deadline_s:g} s: "
                        + ", ".join(map(str, open_ids)))
            return
    catch_up(0)
    flow.finish(time.time_ns())
