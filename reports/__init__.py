"""Pure writers from data to files: CAT (`cat/`), recon, Reg SHO, retention, HA drills, the daily ops report,
deterministic SVG charts. Same input, byte-identical output.

May import only core_bridge.protocol / core_bridge.reasons and hw.refdata; never Prefect, ZeroMQ or flows.
"""
