"""Shared test wiring. Fixtures live in tests/fixtures/<topic>.py, one module per external system."""

pytest_plugins = [
    "tests.fixtures.home",
    "tests.fixtures.database",
    "tests.fixtures.prefect_harness",
    "tests.fixtures.twin",
    "tests.fixtures.sshd",
    "tests.fixtures.dask_cluster",
]
