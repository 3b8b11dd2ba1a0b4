"""The long-running risk watcher: telemetry + live drop copy -> RiskBook -> Engine -> audited trips.

Why it is wired like this:
- **The same path as a human.** A trip is `CoreClient.set_kill` (then `cancel_all` if the rule says so) with
  operator `riskwatch` and a reason naming the rule, the confirming readings, the scope and the consequence,
  so the audit log and the core's own record show it like any `corectl kill`. Its idempotency key is fixed
  per trip, so a trip re-sent after an outage is applied once.
- **Loud when blind.** A core that does not ack is an outage: one ERROR line per outage, `core.reachable`
  false in the status file and `colo_riskwatch_core_up` 0; the watcher then probes with exponential backoff
  (1 s doubling to 30 s) and holds trips until an ack comes, instead of retrying silently at full speed.
  No heartbeat for longer than `telemetry_max_age_s` is the fail-safe alert (ERROR once, `failsafe` in the
  status, `colo_riskwatch_telemetry_stale` 1); a `heartbeat_age` rule turns it into a level.
- **Never blocks on a notification.** Each trip is posted as JSON to `alerts.webhook_url` (as the Prefect
  automations are) from a daemon thread.
- **The live view, not the books.** The drop copy is taken live and not rewound (the capture owns gap
  fill): a missed batch only makes rates lower for a moment, and is counted (`dropcopy.gaps`).

Status: `<home>/run/riskwatch.json` (write + rename) every `status_interval_s` and after every trip.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zmq

from core_bridge.client.keyfile import read_curve_key
from core_bridge.errors import BridgeError, CommandError, ConfigError
from core_bridge.protocol import (
    DROPCOPY_TOPIC,
    TELEMETRY_TOPIC_HEARTBEAT,
    TELEMETRY_TOPIC_MARKS,
    TELEMETRY_TOPIC_POSITIONS,
    decode_batch,
)
from core_bridge.riskwatch.engine import Engine, Trip
from core_bridge.riskwatch.flattening import Flattener
from core_bridge.riskwatch.metrics import RiskBook
from core_bridge.riskwatch.rules import RuleSet, reload_rules

log = logging.getLogger("core_bridge.riskwatch")
OPERATOR = "riskwatch"
KEPT_TRIPS = 50


@dataclass
class WatchConfig:
    rules_path: Path
    keys_dir: Path
    control_endpoints: list[str]
    telemetry_endpoints: list[str]
    dropcopy_endpoints: list[str]
    identity: str = "operator"  # trips need an operator key
    status_path: Path | None = None
    audit_path: Path | None = None
    webhook_url: str | None = None
    timeout_ms: int = 1500
    retries: int = 2
    status_interval_s: float = 1.0
    probe_interval_s: float = 2.0  # status requests while the core answers
    backoff_min_s: float = 1.0  # first wait after a failed request; doubles per failure...
    backoff_max_s: float = 30.0  # ...up to this
    rewind_endpoints: list[str] = field(default_factory=list)  # the FLATTEN action fills drop-copy gaps from here
    reports_home: Path | None = None  # FLATTEN reports go to <home>/reports/<date>/kills/...
    kills_dir: Path | None = None  # ...or here (a replayed day's folder)

    @classmethod
    def from_settings(cls, rules_path: Path, *, control: str | None = None, telemetry: str | None = None,
                      identity: str = "operator", keys_dir: Path | None = None, **overrides: Any) -> WatchConfig:
        """Endpoints as corectl resolves them (explicit setting, a local twin's file, default ports); an explicit
        control endpoint puts telemetry and drop copy at its +1 and +2 ports, as the default layout does."""
        from core_bridge.audit import default_path
        from core_bridge.settings import load_settings

        s = load_settings()

        def beside(offset: int) -> str:
            assert control is not None
            head, _, port = control.rpartition(":")
            if not port.isdigit():
                raise ConfigError(f"cannot derive endpoints from {control!r}")
            return f"{head}:{int(port) + offset}"

        if control:
            ctl, tel, dc, rw = [control], [telemetry or beside(1)], [beside(2)], [beside(3)]
        else:
            nodes = ["primary"] + (["standby"] if s.get("core.standby.control") or s.local_twin_endpoints("standby")
                                   else [])
            ctl = [s.core_endpoint("control", n) for n in nodes]
            tel = [telemetry] if telemetry else [s.core_endpoint("telemetry", n) for n in nodes]
            dc = [s.core_endpoint("dropcopy", n) for n in nodes]
            rw = [s.core_endpoint("rewind", n) for n in nodes]
        url = s.get("alerts.webhook_url")
        cfg = cls(rules_path, Path(keys_dir or s.keys_dir), ctl, tel, dc, identity,
                  status_path=s.run_dir / "riskwatch.json", audit_path=default_path(s.home),
                  webhook_url=str(url) if url else None, rewind_endpoints=rw, reports_home=s.home)
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


@dataclass
class CoreLink:
    """Whether the core acks us, and when to ask again (backoff while it does not)."""

    reachable: bool | None = None
    error: str = ""
    outage_since_ns: int | None = None
    outages: int = 0
    backoff_s: float = 0.0
    next_probe: float = 0.0  # monotonic

    def to_json(self, now: float) -> dict[str, Any]:
        return {"reachable": self.reachable, "error": self.error or None, "outage_since_ns": self.outage_since_ns,
                "outages": self.outages, "next_probe_in_s": round(max(0.0, self.next_probe - now), 3)}


@dataclass
class _Counts:
    dc_batches: int = 0
    dc_malformed: int = 0
    dc_gaps: int = 0
    tel_messages: int = 0
    tel_malformed: int = 0
    webhook_sent: int = 0
    webhook_failures: int = 0
    reload_failures: int = 0
    trips: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    trip_failures: Counter[str] = field(default_factory=Counter)


class RiskWatcher:
    """One watcher: `run()` until stopped; `status()` is what the file, --json and the metrics say."""

    def __init__(self, cfg: WatchConfig, rules: RuleSet, *, ctx: zmq.Context | None = None) -> None:
        from core_bridge.audit import AuditLog
        from core_bridge.client.commands import CoreClient

        self.cfg = cfg
        self.rules = rules
        self.engine = Engine(rules)
        self.book = RiskBook(rules.setting("rate_window_s"), rules.setting("mark_max_age_s"))
        self.ctx = ctx or zmq.Context.instance()
        self.client = CoreClient(cfg.control_endpoints, cfg.keys_dir, identity=cfg.identity, operator=OPERATOR,
                                 timeout_ms=cfg.timeout_ms, retries=cfg.retries, context=self.ctx,
                                 audit=AuditLog(cfg.audit_path) if cfg.audit_path else True)
        self.link = CoreLink()
        self.counts = _Counts()
        self.trips: list[dict[str, Any]] = []
        self.pending: list[Trip] = []
        self.failsafe = "ok"
        self.rules_error: str | None = None
        self._rules_stamp = _stamp(cfg.rules_path)
        self._last_seq: dict[int, int] = {}
        self._started_ns = time.time_ns()
        self._status_lock = threading.Lock()
        self._status_doc: dict[str, Any] = {}
        self._subs: list[zmq.Socket] = []
        self.flattener = Flattener(cfg, OPERATOR, lambda trip, outcome: self._notify(trip, outcome, "flatten"))

    # --- sockets ---

    def _sub(self, endpoints: list[str], topics: tuple[bytes, ...]) -> zmq.Socket:
        public, secret = read_curve_key(self.cfg.keys_dir / "clients" / f"{self.cfg.identity}.key_secret")
        server, _ = read_curve_key(self.cfg.keys_dir / "core.key")
        s = self.ctx.socket(zmq.SUB)
        s.linger = 0
        s.curve_publickey, s.curve_secretkey, s.curve_serverkey = public, secret or b"", server
        for t in topics:
            s.setsockopt(zmq.SUBSCRIBE, t)
        for ep in endpoints:
            s.connect(ep)
        self._subs.append(s)
        return s

    def _on_telemetry(self, frames: list[bytes], at_s: float) -> None:
        if len(frames) != 2:
            self.counts.tel_malformed += 1
            return
        try:
            doc = orjson.loads(frames[1])
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            self.counts.tel_malformed += 1
            return
        self.counts.tel_messages += 1
        self.book.on_telemetry(frames[0], doc, at_s)

    def _on_dropcopy(self, frames: list[zmq.Frame], at_s: float) -> None:
        if len(frames) != 3 or frames[0].bytes != DROPCOPY_TOPIC:
            self.counts.dc_malformed += 1
            return
        try:
            hdr, recs = decode_batch(frames[1].bytes, frames[2].buffer)  # type: ignore[arg-type]
        except ValueError:
            self.counts.dc_malformed += 1
            return
        self.counts.dc_batches += 1
        last = self._last_seq.get(hdr.epoch)
        if last is not None and hdr.first_seq > last + 1:
            self.counts.dc_gaps += 1
        self._last_seq[hdr.epoch] = max(last or 0, hdr.first_seq + hdr.count - 1)
        self.book.on_records(recs, at_s)

    # --- the loop ---

    def run(self, stop: threading.Event | None = None, max_seconds: float | None = None,
            once: bool = False) -> dict[str, Any]:
        """Watch until `stop` (or max_seconds). `once`: wait for telemetry (a heartbeat and marks, within the
        fail-safe age), evaluate once and return. Returns the final status."""
        stop = stop or threading.Event()
        tel = self._sub(self.cfg.telemetry_endpoints,
                        (TELEMETRY_TOPIC_HEARTBEAT, TELEMETRY_TOPIC_MARKS, TELEMETRY_TOPIC_POSITIONS))
        dc = self._sub(self.cfg.dropcopy_endpoints, (DROPCOPY_TOPIC,))
        poller = zmq.Poller()
        poller.register(tel, zmq.POLLIN)
        poller.register(dc, zmq.POLLIN)
        t0 = time.monotonic()
        t_end = t0 + max_seconds if max_seconds else None
        if once:
            t_end = t0 + max(self.rules.setting("telemetry_max_age_s"), 2.0)
        next_eval = t0 + self.rules.setting("eval_interval_s")
        next_status = t0
        try:
            while not stop.is_set():
                mono = time.monotonic()
                if t_end is not None and mono >= t_end:
                    break
                if mono >= self.link.next_probe:
                    self._probe()
                wait = max(0.0, min(next_eval, next_status, self.link.next_probe) - time.monotonic())
                for sock, _ in poller.poll(max(1, int(wait * 1000))):
                    for _ in range(256):
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        if sock is tel:
                            self._on_telemetry([f.bytes for f in frames], time.time())
                        else:
                            self._on_dropcopy(frames, time.time())
                mono = time.monotonic()
                if mono >= next_eval:
                    self.evaluate(time.time())
                    next_eval = mono + self.rules.setting("eval_interval_s")
                    if once and self.book.heartbeats and self.book.seeded:
                        once = False  # evaluated with telemetry in hand: done
                        break
                if mono >= next_status:
                    self._maybe_reload()
                    self.write_status()
                    next_status = mono + self.cfg.status_interval_s
            if once:  # the deadline came first: evaluate with what there is (the fail-safe says what is missing)
                self.evaluate(time.time())
            self.write_status()
            return self.status()
        finally:
            self.close()

    def evaluate(self, now_s: float) -> list[Trip]:
        """One evaluation of every rule; trips go out at once (held while the core is unreachable)."""
        state = self.engine.failsafe_state(self.book.heartbeat_age(now_s), self.rules.setting("telemetry_max_age_s"))
        if state != self.failsafe:
            if state == "ok":
                log.warning("riskwatch: telemetry is flowing again")
            else:
                log.error("riskwatch: FAIL-SAFE: no heartbeat for %s s (over telemetry_max_age_s %s s); figures that"
                          " need telemetry give no readings", self.book.heartbeat_age(now_s),
                          self.rules.setting("telemetry_max_age_s"))
            self.failsafe = state
        trips = self.engine.evaluate(self.book.reading, self.book.keys, now_s)
        for trip in trips:
            log.warning("riskwatch: TRIP %s", trip.reason())
            if self.link.reachable is False:
                self.pending.append(trip)
                self._record(trip, "held", "core unreachable: held until it acks")
            else:
                self._send(trip)
        if trips:
            self.write_status()
        return trips

    # --- trips ---

    def _send(self, trip: Trip) -> bool:
        """set_kill (then cancel_all) through the audited client; False when the core did not ack."""
        reason = trip.reason()
        key = trip.idempotency_key()
        try:
            reply = self.client.set_kill(trip.scope, trip.key, trip.level, reason, idempotency_key=key)
            outcome: dict[str, Any] = {"previous": reply.result.get("previous"), "state_version": reply.state_version}
            if trip.rule.flatten:  # the level is acked above; the flow (cancels, fills) runs beside the loop
                outcome["flatten"] = "started"
            elif trip.rule.cancel_all:
                cancel = self.client.cancel_all(trip.scope, trip.key, reason, idempotency_key=key + ":cancel")
                outcome["cancelled"] = cancel.result.get("cancelled")
        except CommandError as exc:  # refused: definitive, resending the same command cannot help
            log.error("riskwatch: the core refused trip %s on %s: %s", trip.rule.name, trip.where, exc)
            self.counts.trip_failures[trip.rule.name] += 1
            self._record(trip, "refused", str(exc))
            return True
        except BridgeError as exc:
            self.counts.trip_failures[trip.rule.name] += 1
            self._outage(exc)
            if trip not in self.pending:
                self.pending.append(trip)
            self._record(trip, "held", f"no ack: {exc}")
            return False
        self._up()
        self.counts.trips[(trip.rule.name, trip.scope.value, trip.key or "")] += 1
        self._record(trip, "acked", "", outcome)
        self._notify(trip, outcome)
        if trip.rule.flatten:
            self.flattener.start(trip)
        return True

    def _record(self, trip: Trip, result: str, message: str, outcome: dict[str, Any] | None = None) -> None:
        doc = {**trip.to_json(), "result": result, "message": message or None, "outcome": outcome,
               "at_ns": int(trip.at_s * 1e9)}
        self.trips = [t for t in self.trips if t.get("id") != key_of(trip)][-(KEPT_TRIPS - 1):]
        self.trips.append({**doc, "id": key_of(trip)})

    def _notify(self, trip: Trip, outcome: dict[str, Any], event: str = "trip") -> None:
        url = self.cfg.webhook_url
        if not url:
            return
        if not url.startswith(("http://", "https://")):
            log.error("riskwatch: alerts.webhook_url %r is not http(s); trip %s not posted", url, trip.rule.name)
            self.counts.webhook_failures += 1
            return
        body = orjson.dumps({"source": "riskwatch", "event": event, **trip.to_json(), "outcome": outcome})

        def post() -> None:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"},  # noqa: S310
                                         method="POST")  # (http(s) only, checked above)
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
                    ok = 200 <= resp.status < 300
            except OSError as exc:
                ok = False
                log.error("riskwatch: webhook %s did not take trip %s: %s", url, trip.rule.name, exc)
            if ok:
                self.counts.webhook_sent += 1
            else:
                self.counts.webhook_failures += 1

        threading.Thread(target=post, name="riskwatch-webhook", daemon=True).start()

    # --- the core link ---

    def _probe(self) -> None:
        """A status request: re-sends held trips once it acks; on no ack, backs off."""
        try:
            self.client.status()
        except BridgeError as exc:
            self._outage(exc)
            return
        self._up()
        for trip in list(self.pending):
            if not self._send(trip):
                break
            self.pending.remove(trip)

    def _outage(self, exc: Exception) -> None:
        link = self.link
        if link.reachable is not False:
            link.outages += 1
            link.outage_since_ns = time.time_ns()
            link.backoff_s = self.cfg.backoff_min_s
            log.error("riskwatch: CANNOT REACH THE CORE at %s: %s; trips are held and the core is probed with"
                      " backoff up to %s s", self.client.endpoints[0], exc, self.cfg.backoff_max_s)
        else:
            link.backoff_s = min(self.cfg.backoff_max_s, link.backoff_s * 2)
        link.reachable, link.error = False, str(exc)
        link.next_probe = time.monotonic() + link.backoff_s

    def _up(self) -> None:
        link = self.link
        if link.reachable is False:
            down_s = (time.time_ns() - (link.outage_since_ns or 0)) / 1e9
            log.warning("riskwatch: the core acks again after %.1f s", down_s)
        link.reachable, link.error, link.outage_since_ns = True, "", None
        link.next_probe = time.monotonic() + self.cfg.probe_interval_s

    # --- rules and status ---

    def _maybe_reload(self) -> None:
        stamp = _stamp(self.cfg.rules_path)
        if stamp == self._rules_stamp:
            return
        self._rules_stamp = stamp
        rules, err = reload_rules(self.cfg.rules_path, self.rules)
        if err is not None:
            self.counts.reload_failures += 1
            self.rules_error = str(err)
            log.error("riskwatch: trips file refused, the previous rules stay in force: %s", err)
            return
        self.rules, self.rules_error = rules, None
        self.engine.load(rules)
        self.book.rate_window_s = rules.setting("rate_window_s")
        self.book.mark_max_age_s = rules.setting("mark_max_age_s")
        log.warning("riskwatch: %d rules in force from %s (%s)", len(rules.rules), rules.path, rules.digest)

    def status(self) -> dict[str, Any]:
        now, mono = time.time(), time.monotonic()
        c = self.counts
        doc = {
            "pid": os.getpid(), "updated_ns": time.time_ns(), "started_ns": self._started_ns,
            "rules_file": str(self.cfg.rules_path), "rules_digest": self.rules.digest,
            "rules_approver": self.rules.approver, "rules": [r.to_json() for r in self.rules.rules],
            "rules_error": self.rules_error, "rules_reload_failures": c.reload_failures,
            "rules_state": self.engine.rule_states(now), "failsafe": self.failsafe,
            "core": {**self.link.to_json(mono), "endpoints": self.client.endpoints},
            "trips": list(self.trips), "pending_trips": len(self.pending),
            "trips_by_rule": [{"rule": r, "scope": sc, "key": k, "count": n}
                              for (r, sc, k), n in sorted(c.trips.items())],
            "trip_failures_by_rule": dict(sorted(c.trip_failures.items())),
            "flattens": self.flattener.status(),
            "figures": self.book.snapshot(now),
            "dropcopy": {"batches": c.dc_batches, "malformed": c.dc_malformed, "gaps": c.dc_gaps},
            "telemetry": {"messages": c.tel_messages, "malformed": c.tel_malformed},
            "webhook": {"configured": bool(self.cfg.webhook_url), "sent": c.webhook_sent,
                        "failures": c.webhook_failures},
        }
        with self._status_lock:
            self._status_doc = doc
        return doc

    def last_status(self) -> dict[str, Any]:
        """The last status built (what a metrics scrape reads, from its own thread)."""
        with self._status_lock:
            return self._status_doc

    def write_status(self) -> None:
        doc = self.status()
        path = self.cfg.status_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(orjson.dumps(doc))
            os.replace(tmp, path)

    def close(self) -> None:
        self.flattener.join(20.0)  # a FLATTEN under way finishes (its deadlines bound it) before the sockets go
        for s in self._subs:
            s.close(0)
        self._subs = []
        self.client.close()


def key_of(trip: Trip) -> str:
    return trip.idempotency_key()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
