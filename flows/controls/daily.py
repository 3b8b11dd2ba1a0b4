"""The day's 15c3-5 evidence computed from the journal and the control audit log (never from counters):
kill events with scope, level, who and how long; rejects by control with counts, first/last time and
examples; post-trade exposure peaks from fills; and the limits history (flows/controls/limit_history.py).

Pure functions over the records the caller read (flows/controls/evidence.py); the result is the JSON
document reports/controls.py renders. Journal times are the core's event stamps; audit times are the
sending host's clock (a twin simulating a past session stamps events on that date while control commands
carry the wall clock, so kill events are paired with their audit records by order, not by time).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from core_bridge.audit import utc_text
from core_bridge.protocol import KILL_SCOPE_CODES, EventType, KillLevel, Side, Venue, from_fixed
from core_bridge.reasons import ReasonCode
from flows.controls.inventory import CONTROLS, OTHER, control_of

EXAMPLES = 3  # example rejects kept per control
AUTOMATIC_OPERATORS = frozenset({"riskwatch"})  # the risk watcher audits its kills as this operator
_SCOPE_OF_CODE = {v: k.value for k, v in KILL_SCOPE_CODES.items()}


def _text(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\0").decode("ascii", "replace")


def _scope_key(rec: np.void) -> tuple[str, str | None]:
    scope = _SCOPE_OF_CODE.get(int(rec["qty"]), "firm")
    if scope == "account":
        return scope, _text(rec["account"])
    if scope == "symbol":
        return scope, _text(rec["symbol"])
    if scope == "venue":
        try:
            return scope, Venue(int(rec["venue"])).name
        except ValueError:
            return scope, str(int(rec["venue"]))
    return scope, None


def kill_events(recs: np.ndarray, audit: list[dict[str, Any]], end_ns: int) -> list[dict[str, Any]]:
    """Every KILL_STATE_CHANGED of the day, with the audit attempt that caused it (matched in order on scope,
    key and level), manual or automatic, and how long the scope stayed at that level (journal time)."""
    sent = [r for r in audit if r.get("command") == "set_kill" and r.get("result") == "ok"]
    used: set[int] = set()
    kills = recs[recs["etype"] == EventType.KILL_STATE_CHANGED]
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(kills):
        scope, key = _scope_key(rec)
        level = KillLevel(int(rec["price"])).name
        who: dict[str, Any] | None = None
        for j, a in enumerate(sent):
            args = a.get("args") or {}
            if j not in used and args.get("scope") == scope and args.get("key") == key and args.get("level") == level:
                used.add(j)
                who = a
                break
        ends = next((int(k["ts_ns"]) for k in kills[i + 1:] if _scope_key(k) == (scope, key)), None)
        ts = int(rec["ts_ns"])
        operator = who.get("operator") if who else None
        out.append({
            "utc": utc_text(ts), "scope": scope, "key": key, "level": level,
            "operator": operator, "identity": who.get("identity") if who else None,
            "reason": who.get("reason", "") if who else "",
            "origin": "automatic" if operator in AUTOMATIC_OPERATORS else "manual" if who else "core",
            "until_utc": utc_text(ends) if ends is not None else None,
            "duration_s": round(((ends if ends is not None else end_ns) - ts) / 1e9, 3),
            "open_at_end": ends is None and level != KillLevel.ACTIVE.name, "seq": int(rec["seq"]),
        })
    return out


def cancel_alls(audit: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"utc": a.get("utc"), "scope": (a.get("args") or {}).get("scope"), "key": (a.get("args") or {}).get("key"),
             "operator": a.get("operator"), "reason": a.get("reason", ""), "result": a.get("result")}
            for a in audit if a.get("command") == "cancel_all"]


def _reason_name(code: int) -> str:
    try:
        return ReasonCode(code).name
    except ValueError:
        return str(code)


def rejects(recs: np.ndarray) -> dict[str, Any]:
    """Gate rejects (ORDER_REJECTED, REPLACE_REJECTED) by control: count, first/last, examples; and per account."""
    rej = recs[np.isin(recs["etype"], [int(EventType.ORDER_REJECTED), int(EventType.REPLACE_REJECTED)])]
    by: dict[str, list[np.void]] = defaultdict(list)
    for r in rej:
        by[control_of(int(r["reason"]))].append(r)
    rows = []
    for name in [c.name for c in CONTROLS] + [OTHER]:
        got = by.get(name, [])
        codes: dict[str, int] = defaultdict(int)
        for r in got:
            codes[_reason_name(int(r["reason"]))] += 1
        rows.append({
            "control": name, "count": len(got),
            "first_utc": utc_text(int(got[0]["ts_ns"])) if got else None,
            "last_utc": utc_text(int(got[-1]["ts_ns"])) if got else None,
            "by_reason": dict(sorted(codes.items())),
            "examples": [{"utc": utc_text(int(r["ts_ns"])), "event": EventType(int(r["etype"])).name,
                          "account": _text(r["account"]), "symbol": _text(r["symbol"]),
                          "side": Side(int(r["side"])).name if int(r["side"]) in Side._value2member_map_ else "",
                          "qty": int(r["qty"]), "price": from_fixed(int(r["price"])),
                          "reason": _reason_name(int(r["reason"])), "order_id": int(r["order_id"]),
                          "seq": int(r["seq"])} for r in got[:EXAMPLES]],
        })
    per_account: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rej:
        per_account[_text(r["account"])][control_of(int(r["reason"]))] += 1
    return {"total": len(rej), "by_control": rows,
            "by_account": {a: dict(sorted(v.items())) for a, v in sorted(per_account.items())}}


def _signed(side: int, qty: int) -> int:
    return qty if side == Side.BUY else -qty


def exposure_peaks(recs: np.ndarray) -> dict[str, Any]:
    """Intraday post-trade exposure from the day's fills (start-of-day positions are not in the journal):
    positions marked at each symbol's last fill price; the peak gross (sum |value|) and peak |net| per account
    and for the firm, with when."""
    fills = recs[recs["etype"] == EventType.ORDER_FILLED]
    pos: dict[tuple[str, str], int] = defaultdict(int)
    last_px: dict[str, int] = {}
    peaks: dict[str, dict[str, Any]] = {}

    def value(acct: str | None) -> tuple[int, int]:
        gross = net = 0
        for (a, s), q in pos.items():
            if acct is None or a == acct:
                v = q * last_px.get(s, 0)
                gross += abs(v)
                net += v
        return gross, net

    def bump(who: str, acct: str | None, ts: int) -> None:
        gross, net = value(acct)
        p = peaks.setdefault(who, {"gross": 0, "gross_utc": None, "net": 0, "net_utc": None, "fills": 0})
        p["fills"] += 1
        if gross > p["gross"]:
            p["gross"], p["gross_utc"] = gross, utc_text(ts)
        if abs(net) > abs(p["net"]):
            p["net"], p["net_utc"] = net, utc_text(ts)

    for f in fills:
        acct, sym = _text(f["account"]), _text(f["symbol"])
        pos[(acct, sym)] += _signed(int(f["side"]), int(f["last_qty"]))
        last_px[sym] = int(f["last_px"])
        bump(acct, acct, int(f["ts_ns"]))
        bump("firm", None, int(f["ts_ns"]))

    def money(p: dict[str, Any]) -> dict[str, Any]:
        return {"peak_gross": from_fixed(p["gross"]), "peak_gross_utc": p["gross_utc"],
                "peak_net": from_fixed(p["net"]), "peak_net_utc": p["net_utc"], "fills": p["fills"]}

    firm = peaks.pop("firm", {"gross": 0, "gross_utc": None, "net": 0, "net_utc": None, "fills": 0})
    return {"firm": money(firm), "accounts": {a: money(p) for a, p in sorted(peaks.items())}}


def limits_changed_events(recs: np.ndarray) -> list[dict[str, Any]]:
    """The core's own record of each limit change (LIMITS_CHANGED: the new limits version, the account)."""
    ev = recs[recs["etype"] == EventType.LIMITS_CHANGED]
    return [{"utc": utc_text(int(r["ts_ns"])), "account": _text(r["account"]) or None, "limits_version": int(r["qty"]),
             "seq": int(r["seq"])} for r in ev]
