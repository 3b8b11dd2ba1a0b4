"""One thin Prefect flow per deployment of infra/prefect.yaml, the module named as the deployment.

Each module wires settings, tasks and artifacts around the domain package that holds the logic; none holds
logic of its own. May import everything in flows but `flows.opsctl`.
"""
