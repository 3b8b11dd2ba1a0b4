"""Reconciliation: core snapshot vs SOD + journal vs the clearing firm's EOD files.

Modules: `breaks` (the one BreakType enum, docs table, deterministic ids), `frames` (the shapes every source
is read into), `matching` (pure vectorised phases), `autoresolve` (the explicit rules), `aging`,
`reconcile` (one day as a pure function), `sources` (readers that fail closed), `store` (idempotent upsert,
sign-off), `alerts`, `scenarios` + `synthetic` (known breaks injected on a consistent day, for tests/demo).
The Prefect flow is `flows/jobs/recon.py:recon`; the CLI `opsctl recon` is `flows/opsctl/recon.py`.

Invariants:
- A missing or unreadable source fails the run (ReconError); nothing is stored before all sources are read.
- Break ids are sha256(first-seen date | type | key): a re-run of a date upserts the same rows.
- Resolved and signed-off breaks stay so; a re-run reconciles against the core snapshot the date's first
  successful run stored (the core is live state).
- Only TIMING_ARRIVED and POSITION_NOW_AGREES close breaks without a person.
"""
