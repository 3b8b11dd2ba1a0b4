"""The one Jinja2 environment every HTML report renders through (templates in reports/templates/).

Autoescape is on and undefined names raise (StrictUndefined), so a missing field fails the render instead of
printing an empty cell. Output is deterministic: no clock is read here, a time appears only when the caller
passes it. Reports are archived as single files, so the shared stylesheet is inlined by `base.html.j2`.

A template extends the layout and fills `content`:

    {% extends "base.html.j2" %}
    {% from "macros.html.j2" import table %}
    {% block content %}{{ table(["a", "b"], rows, "nothing on this date") }}{% endblock %}

and is rendered with `render("x.html.j2", title=..., report_name=..., business_date=..., sources=[...], ...)`.
`sources` is a list of `source(name, path)` entries (name, path, sha256); pre-built SVG goes in as `markup(svg)`.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = TEMPLATES / "style.css"


@cache
def environment() -> Environment:
    """The shared environment (built once per process)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["stylesheet"] = stylesheet
    return env


def render(template: str, **context: Any) -> str:
    """Render one template of reports/templates/ with `context`; always ends in a newline."""
    out = environment().get_template(template).render(**context)
    return out if out.endswith("\n") else out + "\n"


@cache
def stylesheet() -> Markup:
    """The shared CSS, trusted (it is ours), for inlining in <style>."""
    return Markup(STYLESHEET.read_text(encoding="utf-8").strip())  # noqa: S704 - our own file, not input


def markup(html: str) -> Markup:
    """Mark HTML the project generated itself (reports.svg charts) as safe to insert unescaped."""
    return Markup(html)  # noqa: S704 - callers pass only project-generated SVG/HTML


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source(name: str, path: Path | None, *, sha256: str | None = None, shown_path: str | None = None) -> dict[str, str]:
    """One entry of a report's `sources`: what it is, where (as shown), and the sha256 of its bytes.

    A source that does not exist is listed with sha256 "absent" rather than dropped, so the reader sees it was
    looked for."""
    if sha256 is None:
        sha256 = sha256_file(path) if path is not None and path.is_file() else "absent"
    where = shown_path if shown_path is not None else (str(path) if path is not None else "")
    return {"name": name, "path": where, "sha256": sha256}


def write_html_json(out_dir: Path, stem: str, doc: dict[str, Any], html: str, *,
                    sort_keys: bool = True) -> list[Path]:
    """`<stem>.html` and `<stem>.json` (indented, newline-terminated) in out_dir; HTML first, the file a reader
    opens. Deterministic: the same doc gives the same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    h, j = out_dir / f"{stem}.html", out_dir / f"{stem}.json"
    h.write_text(html, encoding="utf-8")
    j.write_text(json.dumps(doc, indent=2, sort_keys=sort_keys) + "\n", encoding="utf-8")
    return [h, j]
