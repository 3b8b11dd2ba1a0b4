"""Prometheus metrics of the drop-copy session (scraped from `opsctl fix-dropcopy`'s /metrics).

Names are part of the monitoring contract (infra/prometheus rules use them): never rename one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

SESSION_STATES = ("disconnected", "logged_on")


@dataclass
class SessionMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.state = Gauge("colo_fix_session_logged_on", "1 while the drop-copy session is logged on", registry=r)
        self.seq_in = Gauge("colo_fix_last_seq_in", "last inbound MsgSeqNum committed to the ops store",
                            registry=r)
        self.seq_out = Gauge("colo_fix_last_seq_out", "last outbound MsgSeqNum sent", registry=r)
        self.messages = Counter("colo_fix_messages", "ExecutionReports received", registry=r)
        self.rate = Gauge("colo_fix_messages_per_second", "ExecutionReports received per second (over the last second)",
                          registry=r)
        self.garbled = Counter("colo_fix_garbled", "messages dropped for a bad CheckSum or BodyLength",
                               registry=r)
        self.rejected = Counter("colo_fix_rejected", "ExecutionReports rejected (35=3) as unbookable", registry=r)
        self.resends = Counter("colo_fix_resend_requests", "ResendRequests (35=2) sent for gaps", registry=r)
        self.lag_fills = Gauge("colo_fix_lag_fills", "journal fills of the day without a drop copy yet",
                               registry=r)
        self.open_breaks = Gauge("colo_fix_intraday_open_breaks", "open intraday recon breaks of the day, by type",
                                 ["btype"], registry=r)
        self.lag_seconds = Gauge("colo_fix_lag_seconds",
                                 "seconds the drop copy's last fill trails the journal's last fill", registry=r)
