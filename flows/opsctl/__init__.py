"""`opsctl`, the on-call CLI over the flows: `app` builds it, one module per command group.

May import: flows' domain packages, `flows.orchestration`, `flows.jobs` (lazily, inside commands),
core_bridge, reports. Nothing imports this package but the console script.
"""
