"""The clearing side as plain functions: SOD loads, buying power, locates and Reg SHO inputs, the locate log,
the Rule 204 close-outs (`ftd`, `closeout`, `closeout_run`), the Rule 203(b)(1) locate sources
(`locate_sources`), and the ingest of one file whole or not at all. `runs` holds the flows' bodies; `wiring`
turns settings into an engine, a source and a core client. No Prefect: the flows are in flows/jobs/."""
