"""What `corectl watch` shows of the risk watcher: its figures and each rule's state, from its status file.

Why the status file (`<home>/run/riskwatch.json`) and not a socket: the watcher rewrites it every second,
the file is what `--json`, the metrics and this view all read, so they never disagree; a file older than
`STALE_S` says the watcher is not running rather than showing old figures as live. Pure: a dict in, a
summary (and a rich renderable) out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

STALE_S = 5.0
_STATE_STYLE = {"armed": "green", "confirming": "yellow", "cooling_down": "dark_orange", "tripped": "bold red"}


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def summary(doc: dict[str, Any] | None, now_ns: int | None = None) -> dict[str, Any]:
    """The view's model: running or not, fail-safe, core link, figures per account, rule states, trips."""
    if doc is None:
        return {"running": False, "why": "no watcher status file (is `corectl riskwatch` running?)"}
    now = time.time_ns() if now_ns is None else now_ns
    age = (now - int(doc.get("updated_ns") or 0)) / 1e9
    figures = doc.get("figures") or {}
    accounts = {"firm": figures.get("firm") or {}, **(figures.get("accounts") or {})}
    rules = []
    for st in doc.get("rules_state") or []:
        state = str(st.get("state"))
        shown = f"confirming {st['confirming']}" if state == "confirming" else state.replace("_", " ")
        if st.get("cooldown_left_s") is not None and state != "cooling_down":
            shown += f" (cooling down {st['cooldown_left_s']} s)"
        elif state == "cooling_down":
            shown += f" {st.get('cooldown_left_s')} s"
        rules.append({"rule": st.get("rule"), "key": st.get("key"), "state": state, "shown": shown,
                      "trips": st.get("trips", 0), "last_value": st.get("last_value")})
    return {
        "running": age <= STALE_S, "status_age_s": round(age, 1), "failsafe": doc.get("failsafe"),
        "core_reachable": (doc.get("core") or {}).get("reachable"), "pending_trips": doc.get("pending_trips", 0),
        "rules_error": doc.get("rules_error"), "rules_digest": doc.get("rules_digest"),
        "events": figures.get("events"),
        "accounts": {a: {k: f.get(k) for k in ("pnl", "realized_pnl", "unrealized_pnl", "gross_exposure",
                                                "net_exposure", "order_rate", "reject_rate")}
                     for a, f in accounts.items()},
        "rules": rules,
        "trips": [{k: t.get(k) for k in ("rule", "key", "level", "action", "result", "at_ns")}
                  for t in (doc.get("trips") or [])[-5:]],
        "flattens": ((doc.get("flattens") or {}).get("done") or [])[-5:],
    }


def render(s: dict[str, Any]) -> Any:
    """The watcher's part of a `corectl watch` frame."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if not s.get("running"):
        why = s.get("why") or f"watcher status is {s.get('status_age_s')} s old: not running"
        return Text(f"risk watcher: {why}", style="bold red")
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("risk watcher", Text("fail-safe: telemetry stale", style="bold red")
                 if s.get("failsafe") == "telemetry_stale" else Text("watching", style="green"))
    head.add_row("core link", Text("acks", style="green") if s.get("core_reachable")
                 else Text("CANNOT REACH THE CORE", style="bold red"))
    head.add_row("pending trips", str(s.get("pending_trips")))
    if s.get("rules_error"):
        head.add_row("rules file", Text(f"refused: {s['rules_error']}", style="bold red"))
    figs = Table(title="risk figures (USD since the watcher started)", show_edge=False, min_width=60)
    for col in ("account", "P&L", "realized", "unrealized", "gross", "net", "orders/s", "rejects/s"):
        figs.add_column(col, justify="left" if col == "account" else "right")
    for acct, f in s.get("accounts", {}).items():
        figs.add_row(acct, *(str(f.get(k) if f.get(k) is not None else "?") for k in (
            "pnl", "realized_pnl", "unrealized_pnl", "gross_exposure", "net_exposure", "order_rate", "reject_rate")))
    rules = Table(title="trip rules", show_edge=False, min_width=60)
    for col in ("rule", "key", "state", "trips", "last reading"):
        rules.add_column(col)
    for r in s.get("rules", []):
        rules.add_row(str(r["rule"]), str(r["key"] or "-"), Text(r["shown"], style=_STATE_STYLE.get(r["state"], "")),
                      str(r["trips"]), str(r["last_value"] if r["last_value"] is not None else "-"))
    parts: list[Any] = [head, figs, rules]
    if s.get("flattens"):
        fl = Table(title="kill to flat", show_edge=False, min_width=60)
        for col in ("rule", "key", "outcome", "still open"):
            fl.add_column(col)
        for f in s["flattens"]:
            fl.add_row(str(f.get("rule")), str(f.get("key") or "firm"), str(f.get("outcome")),
                       "; ".join(f.get("still_open") or []) or "nothing")
        parts.append(fl)
    return Group(*parts)
