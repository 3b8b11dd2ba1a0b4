"""Markdown pieces for the reports' summaries (what the flows publish as Prefect markdown artifacts).

Pure and deterministic like the HTML writers: same rows, same text.
"""

from __future__ import annotations

from collections.abc import Sequence


def cell(v: object) -> str:
    """One table cell: None is blank, pipes are escaped, newlines become spaces."""
    if v is None:
        return ""
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], empty: str = "none") -> str:
    """A GitHub-flavoured markdown table; with no rows, the line `_<empty>_` instead (never a bare header)."""
    if not rows:
        return f"_{cell(empty)}_"
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
