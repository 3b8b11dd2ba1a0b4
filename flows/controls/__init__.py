"""The firm's SEC 15c3-5 controls on the ops side, as plain functions (no Prefect):

- `limits`: the approved limits (infra/limits.toml), pushing them, reconciling them with the core at the open;
- `inventory`: the control inventory (control -> reason codes, where enforced, parameters, code and test);
- `evidence`, `limit_history`, `daily`, `day`, `run`: the daily controls report from the journal and audit log;
- `verification`, `verify_run`: boundary tests of every control on a scratch twin;
- `review`: the annual review pack (15c3-5(e)) from the daily evidence.
"""
