"""HA drills: pure checks (checks.py), the drill rig around a twin pair and SSH hosts (rig.py), and the
scenarios with their measurements (scenarios.py). flows/ha_drill.py is the thin Prefect wiring."""
