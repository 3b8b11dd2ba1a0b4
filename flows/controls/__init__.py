"""The firm's 15c3-5 controls on the ops side: the approved limits (infra/limits.toml) and pushing them to
the core with approver and reason. Plain functions, no Prefect."""
