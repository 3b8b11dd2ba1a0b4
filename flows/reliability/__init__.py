"""Soak and chaos analysis, with no Prefect: process sampling (`sampling`), the growth test (`slope`), retry
budgets (`budgets`), the unhandled-exception scan of logs (`logscan`) and the comparison of two days'
outputs (`compare`). The drivers are flows/orchestration/soak.py and chaos.py; the report is reports/soak.py.
"""
