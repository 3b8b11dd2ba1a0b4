"""The daily ops report's figures, gathered from the store and the other reports' JSON (`gather`). The pure
writer is reports/ops_report.py; the flow is flows/jobs/ops_report.py. No Prefect here."""
