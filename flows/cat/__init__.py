"""The CAT job's logic that touches the outside: the day's events (journal or store), the submission
interface (live SFTP and the CAT twin, chosen by settings) and the submission/feedback log.

Record building, validation, packaging and sealing are pure and live in `reports/cat/`; the Prefect flows are
`flows/jobs/cat.py` and `flows/jobs/cat_feedback.py`. No Prefect here. Invariant: sealed files are never
changed; a rerun finds them sealed and submits nothing twice.
"""
