"""The suite's reports: one text line per rule (the terminal), a JSON document (CI, machines) and a single
self-contained HTML page (people). No template engine: core_bridge must not import jinja, and the page is a
table of rules with their evidence, which `html.escape` and an f-string render exactly.

`write_reports(report, path)` always writes both files: `path` in the format its suffix names (`.json` or
`.html`) and the other format beside it; a path with neither suffix is a directory that gets
`conformance.json` and `conformance.html`.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import orjson

from core_bridge.conformance.result import RuleResult, Status
from core_bridge.conformance.runner import SuiteReport

_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "n/a": "#6e7781"}


def dumps(doc: Any, *, pretty: bool = False) -> bytes:
    option = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if pretty else 0)
    return orjson.dumps(doc, default=_fallback, option=option)


def _fallback(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if hasattr(obj, "item"):  # numpy scalars OPT_SERIALIZE_NUMPY does not cover
        return obj.item()
    return str(obj)


def text_line(r: RuleResult) -> str:
    return f"{r.status.value.upper():5} {r.name:24} {r.seconds:6.2f} s  {r.summary}"


def text_details(r: RuleResult, limit: int = 600) -> list[str]:
    """The evidence a terminal shows under a rule: the failed checks (n/a: the reason)."""
    if r.status is Status.NA:
        return [f"      n/a: {r.evidence.get('reason')}"]
    if r.status is Status.PASS:
        return []
    out = []
    for c in r.evidence.get("checks", []):
        if not c["ok"]:
            extra = {k: v for k, v in c.items() if k not in ("check", "ok")}
            body = dumps(extra).decode()
            out.append(f"      x {c['check']}" + (f"  {body[:limit]}{'...' if len(body) > limit else ''}"
                                                   if extra else ""))
    return out


def render_html(doc: dict[str, Any]) -> str:
    e = html.escape
    counts = doc.get("counts", {})
    core = doc.get("core") or {}
    started = dt.datetime.fromtimestamp(doc.get("started_ns", 0) / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    verdict = "CONFORMS" if doc.get("ok") else "DOES NOT CONFORM"
    rows = []
    for r in doc.get("rules", []):
        colour = _COLOURS.get(r["status"], "#000")
        checks = "".join(
            f'<li class="{"ok" if c["ok"] else "bad"}">{"&#10003;" if c["ok"] else "&#10007;"} {e(c["check"])}'
            + (f"<pre>{e(dumps({k: v for k, v in c.items() if k not in ('check', 'ok')}, pretty=True).decode())}"
               "</pre>" if len(c) > 2 and not c["ok"] else "") + "</li>"
            for c in r["evidence"].get("checks", []))
        full = e(dumps(r["evidence"], pretty=True).decode())
        rows.append(
            f'<tr><td><b>{e(r["name"])}</b><br><small>{e(r.get("ref", ""))}</small></td>'
            f'<td style="color:{colour};font-weight:bold">{e(r["status"].upper())}</td>'
            f'<td>{r["seconds"]:.2f} s</td><td>{e(r["summary"])}<ul>{checks}</ul>'
            f"<details><summary>evidence</summary><pre>{full}</pre></details></td></tr>")
    endpoints = "".join(f"<li>{e(k)}: <code>{e(str(v))}</code></li>" for k, v in doc.get("endpoints", {}).items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Core conformance: {e(verdict)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #d0d7de; padding: .4em .6em; vertical-align: top; text-align: left; }}
pre {{ background: #f6f8fa; padding: .5em; overflow-x: auto; max-height: 30em; }}
li.bad {{ color: #cf222e; }} li.ok {{ color: #1a7f37; }} ul {{ margin: .3em 0; padding-left: 1.2em; }}
</style></head><body>
<h1>Core conformance: <span style="color:{_COLOURS['pass' if doc.get('ok') else 'fail']}">{e(verdict)}</span></h1>
<p>protocol version {e(str(doc.get("protocol")))}; core <code>{e(str(core.get("core_id")))}</code>, node
{e(str(core.get("node")))}, epoch {e(str(core.get("epoch")))}; started {e(started)}, {doc.get("seconds", 0):.1f} s;
{counts.get("pass", 0)} pass, {counts.get("fail", 0)} fail, {counts.get("n/a", 0)} n/a.</p>
<ul>{endpoints}</ul>
<p>restart command: <code>{e(str(doc.get("restart_command") or "none (restart rule n/a)"))}</code></p>
<table><tr><th>rule</th><th>status</th><th>time</th><th>evidence</th></tr>
{"".join(rows)}
</table></body></html>
"""


def write_reports(report: SuiteReport | dict[str, Any], path: Path) -> list[Path]:
    doc = report.to_json() if isinstance(report, SuiteReport) else report
    path = Path(path)
    if path.suffix.lower() in (".json", ".html"):
        json_path, html_path = path.with_suffix(".json"), path.with_suffix(".html")
    else:
        json_path, html_path = path / "conformance.json", path / "conformance.html"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_bytes(dumps(doc, pretty=True) + b"\n")
    html_path.write_text(render_html(doc), encoding="utf-8")
    return [json_path, html_path]
