"""Software twin of the co-located trading core: same wire protocol, same hot-path semantics.

    state.py     persisted control state (atomic, checksummed; unknown -> HALTED)
    risk.py      the pre-trade gate as pure functions (kill levels, 15c3-5 limits, Reg SHO, halts)
    venues.py    NSDQ (OUCH) / NYSE, ARCA (Pillar) behaviour: sessions, wire ids, accept/reject, matching
    engine.py    commands, the order path, the event sequencer (no sockets, no wall clock)
    market.py    deterministic order-flow generator and simulate_day() for in-process days
    stream.py    vectorised synthetic records for capture benchmarks
    eventlog.py  the twin's own per-epoch event journal (rewind serves from it)
    ha.py        this node's HA role: the Binary Star state machine (single active node without a peer)
    replication.py  the pair's peer link: heartbeats, replicate-before-publish, working orders for takeover
    server.py    TwinCore: CURVE sockets and the poll loop
    launch.py    start_twin()/TwinHandle/stop_twin(): the twin as a subprocess
"""
