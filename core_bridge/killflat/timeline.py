"""The evidence of one kill-to-flat: a timeline per venue, as JSON and as an HTML page.

Why the drop copy's own times: each entry that comes from a record carries the core's `ts_ns`, so the
timeline shows when the venue confirmed, not when this side read it; the entries the flow itself makes
(the command, a deadline) carry this side's clock. Same document in, same bytes out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import orjson

NY = "America/New_York"


@dataclass(frozen=True)
class Entry:
    at_ns: int
    event: str  # command, halted, cancel_all, cancel_ack, order_*, venue_clear, venue_timeout, flatten_order,
    # flatten_rejected, fill, expired, kill_seen, reassert, flat, partial
    venue: str | None = None
    order_id: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"at_ns": self.at_ns, "at": utc_text(self.at_ns), "event": self.event, "venue": self.venue,
                "order_id": self.order_id, "detail": self.detail}


@dataclass
class Timeline:
    entries: list[Entry] = field(default_factory=list)

    def add(self, at_ns: int, event: str, *, venue: str | None = None, order_id: int | None = None,
            detail: str = "") -> None:
        self.entries.append(Entry(at_ns, event, venue, order_id, detail))

    def by_venue(self) -> dict[str, list[dict[str, Any]]]:
        """Entries per venue ("-" for the ones of the whole scope), in time order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for e in sorted(self.entries, key=lambda e: e.at_ns):
            out.setdefault(e.venue or "-", []).append(e.to_json())
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in sorted(self.entries, key=lambda e: e.at_ns)]


def utc_text(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def report_date(ns: int) -> str:
    """The New York business date a kill at `ns` belongs to (its reports/<date>/kills/ folder)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).astimezone(ZoneInfo(NY)).date().isoformat()


def report_name(doc: dict[str, Any]) -> str:
    stamp = dt.datetime.fromtimestamp(int(doc["started_ns"]) / 1e9, dt.UTC).strftime("%H%M%S%f")[:10]
    key = "".join(c if c.isalnum() else "_" for c in (doc.get("key") or "firm"))
    return f"kill-{stamp}-{doc['scope']}-{key}"


def render_html(doc: dict[str, Any]) -> str:
    where = "firm" if doc.get("key") is None else f"{doc['scope']} {doc['key']}"
    open_items = "".join(f"<li>{escape(p)}</li>" for p in doc.get("still_open") or []) or "<li>nothing</li>"
    sections = []
    for venue, rows in (doc.get("timeline_by_venue") or {}).items():
        body = "".join(
            f"<tr><td>{escape(r['at'])}</td><td>{escape(r['event'])}</td>"
            f"<td>{'' if r['order_id'] is None else r['order_id']}</td><td>{escape(r['detail'])}</td></tr>"
            for r in rows)
        sections.append(f"<h2>{escape('scope' if venue == '-' else venue)}</h2><table><thead><tr><th>time (UTC)</th>"
                        f"<th>event</th><th>order id</th><th>detail</th></tr></thead><tbody>{body}</tbody></table>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kill to flat {escape(where)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}} .flat{{color:green}} .partial{{color:#b00}}</style>
</head><body>
<h1>Kill to flat: {escape(where)} — <span class="{escape(doc['outcome'])}">{escape(doc['outcome'])}</span></h1>
<p>operator {escape(str(doc.get('operator')))}, reason: {escape(str(doc.get('reason')))}<br>
started {escape(utc_text(int(doc['started_ns'])))}, ended {escape(utc_text(int(doc['ended_ns'])))}
({doc.get('elapsed_ms')} ms), epoch {doc.get('epoch')}</p>
<h2>Still open</h2><ul>{open_items}</ul>
{''.join(sections)}
</body></html>
"""


def write_report(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """`<name>.json` and `<name>.html` under `out_dir` (reports/<date>/kills/); returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = report_name(doc)
    j, h = out_dir / f"{name}.json", out_dir / f"{name}.html"
    j.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    h.write_text(render_html(doc))
    return j, h
