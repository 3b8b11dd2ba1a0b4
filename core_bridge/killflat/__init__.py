"""Kill to flat (`corectl kill ... --flatten`, the watcher's FLATTEN action): HALTED, cancel-all, every resting
order confirmed gone per venue by the drop copy, exposure-reducing orders, `flat` only when the drop copy
says the positions in the scope are zero.

    machine    the flow as a pure state machine over drop-copy records (no sockets, no clock)
    timeline   the evidence per venue: JSON and HTML under reports/<date>/kills/
    runner     the wiring: the audited client, a drop-copy SUB with rewind for gaps, the marks telemetry

Cheap to import: no Prefect, no pandas; numpy only where records are decoded.
"""
