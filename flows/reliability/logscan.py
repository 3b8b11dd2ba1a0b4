"""Unhandled exceptions in the services' logs: every Python traceback, with the file, the line it starts
on and the exception it ends in.

A traceback in a long-running service's log is a defect even when the service survived it. Some are the
day's seeded trouble on purpose (the corrupt clearing file sod-load rejects): the caller passes those
exception names as `expected`, and they are reported as expected, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("The above exception was the direct cause", "During handling of the above exception")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")  # "pkg.mod.Name: message" or "Name"


@dataclass(frozen=True)
class Finding:
    file: str
    line: int  # 1-based line of "Traceback (most recent call last):"
    exception: str  # the exception class name ("?" when the traceback is cut off)
    message: str
    expected: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _exception_of(lines: list[str], start: int) -> tuple[str, str]:
    """The traceback starting at lines[start]: its last line is the first unindented line after the frames."""
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith((" ", "\t")):
            continue
        if line.startswith(_CHAINED):
            continue
        m = _EXC_LINE.match(line.strip())
        if m:
            return m.group(1).rsplit(".", 1)[-1], (m.group(2) or "").strip()[:300]
        return "?", line.strip()[:300]
    return "?", "traceback cut off"


def scan_text(text: str, file: str, expected: Iterable[str] = ()) -> list[Finding]:
    want = set(expected)
    lines = text.splitlines()
    out: list[Finding] = []
    for i, line in enumerate(lines):
        if TRACEBACK in line:
            exc, msg = _exception_of(lines, i)
            before = [x for x in lines[max(0, i - 3):i] if x.strip()]
            if out and before and before[-1].startswith(_CHAINED):
                # One chained exception: the finding keeps its first line and takes the final exception.
                out[-1] = Finding(file, out[-1].line, exc, msg, exc in want)
                continue
            out.append(Finding(file, i + 1, exc, msg, exc in want))
    return out


def scan_files(paths: Iterable[Path], expected: Iterable[str] = ()) -> list[Finding]:
    """Every traceback in the given log files (unreadable bytes replaced, a missing file skipped)."""
    exp = list(expected)
    out: list[Finding] = []
    for p in sorted(set(paths)):
        try:
            text = p.read_text(errors="replace")
        except OSError:
            continue
        out += scan_text(text, str(p), exp)
    return out
