"""Running the day on Prefect: `deployments` (infra/prefect.yaml as data, cheap), `apply` (upsert it to a
server), `local_server` (start/reuse one local Prefect server), `prefect_runs` (the day's runs, tagging the
current run), `demo_day` (the main job: a whole simulated day).

May import flows' jobs and domain packages, core_bridge, hw (the twins), Prefect; never `flows.opsctl`.
"""
