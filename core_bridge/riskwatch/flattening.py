"""The watcher's FLATTEN action: the kill-to-flat flow in its own thread, with its own audited client.

Why a thread: the HALTED of the trip is sent (and acked) on the watcher's loop like every trip, so the
detection-to-ack path is the same; waiting for the venues' cancels and the flatten fills takes seconds and
must not stop the watcher reading telemetry. A ZeroMQ socket belongs to one thread, so the flow gets its
own `CoreClient` (operator `riskwatch`, same audit log). Its report goes where `corectl kill --flatten`
puts it (reports/<date>/kills/), its outcome into the status file, the metrics and the webhook.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core_bridge.errors import BridgeError

if TYPE_CHECKING:
    from core_bridge.riskwatch.engine import Trip

log = logging.getLogger("core_bridge.riskwatch")
KEPT = 20


class Flattener:
    def __init__(self, cfg: Any, operator: str, notify: Callable[[Trip, dict[str, Any]], None]) -> None:
        """`cfg`: the watcher's `service.WatchConfig` (not imported: service imports this module)."""
        self.cfg = cfg
        self.operator = operator
        self.notify = notify
        self.lock = threading.Lock()
        self.done: list[dict[str, Any]] = []
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (rule, outcome)
        self.threads: list[threading.Thread] = []

    def start(self, trip: Trip) -> None:
        t = threading.Thread(target=self._run, args=(trip,), name=f"riskwatch-flatten-{trip.rule.name}", daemon=True)
        self.threads.append(t)
        t.start()

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(timeout)

    def _run(self, trip: Trip) -> None:
        from core_bridge.audit import AuditLog
        from core_bridge.client.commands import CoreClient
        from core_bridge.killflat.runner import FlattenConfig, run_flatten
        from core_bridge.killflat.timeline import report_date, write_report

        cfg = self.cfg
        client = CoreClient(cfg.control_endpoints, cfg.keys_dir, identity=cfg.identity, operator=self.operator,
                            timeout_ms=cfg.timeout_ms, retries=cfg.retries,
                            audit=AuditLog(cfg.audit_path) if cfg.audit_path else True)
        fcfg = FlattenConfig(cfg.dropcopy_endpoints[0], cfg.rewind_endpoints[0], cfg.telemetry_endpoints[0],
                             cfg.keys_dir, cfg.identity)
        summary: dict[str, Any] = {"rule": trip.rule.name, "scope": trip.scope.value, "key": trip.key}
        try:
            doc = run_flatten(client, fcfg, trip.scope, trip.key, trip.reason(),
                              idempotency_key=trip.idempotency_key() + ":flatten")
            out = cfg.kills_dir or (cfg.reports_home / "reports" / report_date(doc["started_ns"]) / "kills"
                                    if cfg.reports_home is not None else None)
            if out is not None:
                j, h = write_report(doc, out)
                doc["report"] = {"json": str(j), "html": str(h)}
            summary |= {"outcome": doc["outcome"], "still_open": doc["still_open"], "report": doc.get("report"),
                        "elapsed_ms": doc["elapsed_ms"], "flatten_orders": len(doc["flatten_orders"]),
                        "resting_orders": len(doc["resting_orders"])}
        except (BridgeError, ValueError, OSError) as exc:
            summary |= {"outcome": "failed", "still_open": [str(exc)]}
        finally:
            client.close()
        level = logging.WARNING if summary["outcome"] == "flat" else logging.ERROR
        log.log(level, "riskwatch: FLATTEN %s on %s: %s%s", trip.rule.name, trip.where, summary["outcome"],
                "" if summary["outcome"] == "flat" else f" - still open: {'; '.join(summary['still_open'])}")
        with self.lock:
            self.done = [*self.done[-(KEPT - 1):], summary]
            self.outcomes[(trip.rule.name, str(summary["outcome"]))] += 1
        self.notify(trip, {"flatten": summary})

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"running": sum(1 for t in self.threads if t.is_alive()), "done": list(self.done),
                    "by_outcome": [{"rule": r, "outcome": o, "count": n}
                                   for (r, o), n in sorted(self.outcomes.items())]}
