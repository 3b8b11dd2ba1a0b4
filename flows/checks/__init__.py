"""Pre-open readiness checks over the core's `status` and `snapshot` replies (pure; flows/jobs/preopen_check.py
wires them)."""
