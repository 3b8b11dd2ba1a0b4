"""Software twin of the co-located trading core: same wire protocol, same hot-path semantics.

Control state
    state.py        the control state (TwinState), 15c3-5 limit keys, defaults and policy ceiling
    statestore.py   how it is made durable: checksummed snapshot + delta log; unreadable -> unknown -> HALTED
    statelog.py     the delta log's record framing
The engine (no sockets, no wall clock; runs live and in virtual time)
    engine.py       CoreEngine, assembled from the mixins below, and its telemetry
    sequencer.py    the event sequencer: gapless seq per epoch, strictly increasing timestamps
    orders.py       the order lifecycle: through the gate to a venue, fills, expiry, cancel; HA hand-over
    controls.py     control commands: kill levels, limits, BP, locates, restricted list, penalty box, halts,
                    SOD positions
    dispatch.py     request handling: version, role, idempotency, expiry, the handler table
    command_args.py argument validation and the two refusals (ArgsInvalid, Refused)
    risk.py         the pre-trade gate as pure functions (kill levels, 15c3-5 limits, Reg SHO, halts)
    venues.py       NSDQ (OUCH) / NYSE, ARCA (Pillar) behaviour: sessions, wire ids, accept/reject, matching
Simulation
    market.py       deterministic order-flow generator and simulate_day() for in-process days
    stream.py       vectorised synthetic records for capture benchmarks
    session_clock.py  drop-copy timestamps of a simulated past session
    clock_plan.py   the seeded PTP clock offset the heartbeats report (drift, the demo's one breach)
A running node (server.TwinCore, assembled from the mixins below)
    server.py       TwinCore: CURVE sockets and the poll loop
    sockets.py      what the client-facing sockets serve: control requests, rewind, telemetry
    ha_wiring.py    the node's Binary Star wiring: passive gate, peer link, takeover, replicate-then-publish
    sim_command.py  the twin-only `sim` command (flow, end of day, stream bursts)
    persistence.py  state recovery at start, persist after each command, the endpoint file
    eventlog.py     the twin's own per-epoch event journal (rewind serves from it)
    ha.py           this node's HA role: the Binary Star state machine (single active node without a peer)
    replication.py  the pair's peer link: heartbeats, replicate-before-publish, working orders for takeover
    launch.py       start_twin()/TwinHandle/stop_twin(): the twin as a subprocess
    __main__.py     `python -m hw.twin`: one node from the command line

What hw.twin may import: the standard library, numpy, orjson, zmq; from core_bridge only the protocol and
its pure neighbours it already uses (core_bridge.protocol, .reasons, .auth for CURVE keys and ZAP, and
.settings in __main__ for home and ports); from hw only hw.errors, hw.refdata, hw.procs. Never flows,
reports or prefect: the twin stands in for the C core, so it must not depend on the ops suite around it.
Within hw.twin, imports go one way (no cycles): engine mixins build on sequencer <- orders <- controls /
dispatch; server mixins on persistence <- sim_command <- ha_wiring <- sockets <- server.
"""
