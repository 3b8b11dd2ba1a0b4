"""HA drills: pure checks (`checks`), the drill rig around a twin pair and SSH hosts (`rig`), what every drill
measures (`measure`), the scenarios (`scenarios`), running one or a crash series (`runner`), and the drill
record in the store (`store`). flows/jobs/ha_drill.py is the thin Prefect wiring."""
