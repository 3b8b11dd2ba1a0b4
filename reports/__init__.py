"""Pure writers from data to files: CAT (`cat/`), recon, Reg SHO and its Rule 204 close-outs, the clock
report, retention, HA drills, the daily ops report, deterministic SVG charts; HTML through the Jinja2 templates
of `templates/` (`render.py`). Same input, byte-identical output.

May import only core_bridge.protocol / core_bridge.reasons and hw.refdata; never Prefect, ZeroMQ or flows.
"""
