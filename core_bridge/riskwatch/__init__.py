"""The risk watcher (`corectl riskwatch`): automatic kill trips from live telemetry and the drop copy.

Why it is split like this: the trip logic must be provable without sockets, and the wiring must use the
same audited client path as a human, so the two never mix:

    rules     infra/trips.toml: loading, validation (a bad file is refused whole), reload keeping the old rules
    metrics   per account and firm figures (P&L, exposure, order/reject/fill rates, concentration, heartbeat
              age) folded from drop-copy records and telemetry; stale marks give no reading
    engine    confirmation (N readings or a time window), cool-down, fail-safe state -> `Trip` decisions
    prom      the watcher's Prometheus metrics (prometheus_client loaded only when served)
    service   the long-running watcher: sockets, evaluation loop, trips through CoreClient, webhook, status

Cheap to import: numpy only where records are decoded; no Prefect, no pandas.
"""
