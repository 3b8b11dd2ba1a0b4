"""Structural scan of clearing text files: which fault is reported, on which line, when several are present."""

from __future__ import annotations

import pytest

from flows.errors import FileRejectedError
from flows.sources.structural import check_text


@pytest.mark.parametrize(("raw", "line", "field", "text"), [
    (b"ok\nbad\r\n\xe9\n", 3, "encoding", "non-ASCII byte 0xe9 at offset 8"),  # non-ASCII before CR
    (b"ok\n\x01\nx\r\n", 3, "line_ending", "CR byte"),  # CR before other control bytes
    (b"ok\nok\x1b\n", 2, "encoding", "control byte 0x1b"),
    (b"ok\nno lf", 2, "line_ending", "truncated"),
    (b"", 1, "file", "empty"),
])
def test_check_text_when_faults_present_then_first_kind_reported_with_line(raw: bytes, line: int, field: str,
                                                                           text: str) -> None:
    with pytest.raises(FileRejectedError) as err:
        check_text(raw, "f.txt")
    assert (err.value.line, err.value.field) == (line, field)
    assert text in str(err.value)


def test_check_text_when_tabs_and_lf_only_then_line_bounds_returned() -> None:
    lines = check_text(b"a\tb\n\nccc\n", "f.txt")
    assert [lines.text(i) for i in range(len(lines))] == ["a\tb", "", "ccc"]
