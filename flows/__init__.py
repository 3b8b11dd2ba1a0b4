"""The firm's daily operations: domain logic, the Prefect flows that run it, `opsctl`, and orchestration.

Where things live (so "where is the flow, its logic, its CLI" needs no file opened):
- `jobs/` — one thin Prefect flow per deployment, named exactly as the deployment (`jobs/sod_load.py` is
  deployment `sod-load`). Wiring only: settings, tasks, artifacts.
- `opsctl/` — the CLI, one module per command group; `opsctl/app.py` is the typer app.
- `orchestration/` — infra/prefect.yaml as data and its apply, the local Prefect server, Prefect run queries,
  the demo day runner.
- domain packages, plain functions and classes with no Prefect: `sources/` (SFTP and file formats, GX suites),
  `store/` (SQLAlchemy models, Alembic migrations, bulk loads), `clearing/` (SOD, BP, locates, Reg SHO),
  `controls/` (15c3-5 limits), `checks/` (pre-open), `journal_eod/`, `recon/`, `cat/` (CAT events and
  submission), `archive/` (17a-4), `ha/` (drills), `ops_report/`; `calendars.py`, `dates.py`, `errors.py`.

Imports: flows may import core_bridge, reports and hw (the twins behind their interfaces); nothing imports
flows. Domain packages import none of `jobs`, `opsctl`, `orchestration` (tests/unit/test_import_layout.py).
"""
