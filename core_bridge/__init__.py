"""core_bridge: everything that talks to the trading core over ZeroMQ, and `corectl`, the on-call CLI.

Why a package of its own: the core's contract (wire format, reason codes, keys) and the tools that must
work during an incident (kill switch, capture, journal) cannot depend on the orchestration stack; a cold
`corectl kill` must start in milliseconds, and the twins in `hw` build on the same contract.

    protocol, reasons     the wire contract and the one enum of reason codes (docs/protocol.md)
    auth                  CURVE keys, roles.json, ZAP for the server side
    settings              COLO_OPS_* over colo-ops.toml over defaults
    errors, identifiers   every error core_bridge raises; CUSIP/ISIN check digits
    client/               CoreClient: control commands with deadlines, retries, HA following, audit
    audit                 the append-only control audit log
    telemetry, metrics    the heartbeat/health feed, its model and cumulative figures
    exporter              the Prometheus exporter (`corectl exporter`)
    watch_view            what `corectl watch` draws
    journal/              the durable drop-copy journal: segment format, writer, reader, verify, seal
    dropcopy/             the capture service: live drop copy, gap fill by rewind, into the journal
    positions             the real-time post-trade view (15c3-5) folded from captured fills
    cli/                  `corectl` (console script core_bridge.cli.app:main)

The import rule (tests/unit/test_import_layout.py checks it): core_bridge imports only the stdlib, zmq,
orjson and numpy, plus typer and rich inside the CLI and prometheus_client inside the exporter, each loaded
only where it is used. Never prefect, pandas, great_expectations or sqlalchemy, and never another project
package (flows, reports, hw): they depend on core_bridge, not the other way round.
"""
