"""The shared Jinja2 base: deterministic, escaping, strict about missing fields, single-file output."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from reports.render import STYLESHEET, environment, markup, render, source

PAGE = (
    '{% extends "base.html.j2" %}{% from "macros.html.j2" import table %}'
    "{% block content %}{{ table(['k', 'v'], rows, 'nothing') }}{{ chart }}{% endblock %}"
)


def _page(tmp_path: Path, **extra: object) -> str:
    src = tmp_path / "in.csv"
    src.write_bytes(b"a,b\n1,2\n")
    ctx: dict[str, object] = {
        "title": "T <1>", "report_name": "Test report", "business_date": "2026-11-20",
        "sources": [source("input", src, shown_path="in.csv")], "rows": [["<b>", 1], ["x", 2]],
        "chart": markup("<svg></svg>"),
    }
    ctx.update(extra)
    return environment().from_string(PAGE).render(**ctx)


def test_render_when_same_context_twice_then_byte_identical(tmp_path: Path) -> None:
    first = _page(tmp_path).encode()
    second = _page(tmp_path).encode()
    assert first == second


def test_render_when_source_given_then_header_states_its_sha256(tmp_path: Path) -> None:
    import hashlib

    html = _page(tmp_path)
    assert hashlib.sha256(b"a,b\n1,2\n").hexdigest() in html
    assert "<code>in.csv</code>" in html
    assert "Test report — 2026-11-20" in html


def test_render_when_values_hold_html_then_escaped_but_markup_kept(tmp_path: Path) -> None:
    html = _page(tmp_path)
    assert "&lt;b&gt;" in html and "<td><b></td>" not in html
    assert "<title>T &lt;1&gt;</title>" in html
    assert "<svg></svg>" in html


def test_render_when_stylesheet_then_inlined_not_linked(tmp_path: Path) -> None:
    html = _page(tmp_path)
    assert STYLESHEET.read_text(encoding="utf-8").strip() in html
    assert "<link" not in html


def test_render_when_field_missing_then_raises() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("base.html.j2", title="x", report_name="r", sources=[])


def test_render_when_no_clock_passed_then_no_generated_line(tmp_path: Path) -> None:
    assert "generated" not in _page(tmp_path)
    assert "generated 2026-11-20T21:00:00Z" in _page(tmp_path, generated_at="2026-11-20T21:00:00Z")


def test_source_when_file_absent_then_listed_as_absent(tmp_path: Path) -> None:
    assert source("x", tmp_path / "nope")["sha256"] == "absent"


def test_render_when_base_file_rendered_twice_then_identical_and_newline_terminated() -> None:
    ctx = {"title": "t", "report_name": "r", "business_date": "2026-11-20", "sources": []}
    a, b = render("base.html.j2", **ctx), render("base.html.j2", **ctx)
    assert a == b and a.endswith("</html>\n")
    assert "no sources recorded" in a
