"""Replay of 15c3-5 limit changes from the control audit log: the limits in force at any time, every change
with its value before and after, and the core's automatic revert of each temporary raise.

The replay mirrors the core's rules (hw/twin/controls.py `_set_limits`, `revert_due_limits`): a temporary
change keeps the values it replaced and restores them at `until_ns`; a newer temporary change of a key takes
over the older one's revert value; a permanent change of a key cancels a pending revert of that key. Only
attempts the core acked (`result` ok) change anything. Pure functions over plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core_bridge.approvals import raised_keys
from core_bridge.audit import utc_text

Limits = dict[str, int | str]
FIRM = "firm"


def is_raise(effective_before: Limits, change: Limits) -> bool:
    return bool(raised_keys(effective_before, change))


@dataclass
class LimitBook:
    """Firm limits plus per-account overrides, and the pending reverts of temporary raises."""

    scopes: dict[str, Limits]
    temp: list[dict[str, Any]] = field(default_factory=list)  # {account, previous, until_ns, id}

    @classmethod
    def from_approved(cls, firm: Limits, accounts: dict[str, Limits]) -> LimitBook:
        return cls({FIRM: dict(firm), **{a: dict(v) for a, v in accounts.items()}})

    def effective(self, account: str | None) -> Limits:
        firm = self.scopes.get(FIRM, {})
        return dict(firm) if account is None else {**firm, **self.scopes.get(account, {})}

    def snapshot(self) -> dict[str, Limits]:
        """Effective limits of the firm and of every account with overrides, sorted."""
        out = {FIRM: dict(sorted(self.effective(None).items()))}
        for a in sorted(s for s in self.scopes if s != FIRM):
            out[a] = dict(sorted(self.effective(a).items()))
        return out

    def apply(self, account: str | None, new: Limits, until_ns: int | None, rid: str) -> None:
        cur = self.scopes.setdefault(account or FIRM, {})
        if until_ns is not None:
            previous: dict[str, int | str | None] = {k: cur.get(k) for k in new}
            for t in self.temp:
                if t["account"] == account:
                    for k in new:
                        if k in t["previous"]:
                            previous[k] = t["previous"].pop(k)
            self.temp.append({"account": account, "previous": previous, "until_ns": until_ns, "id": rid})
        else:
            for t in self.temp:
                if t["account"] == account:
                    for k in new:
                        t["previous"].pop(k, None)
        cur.update(new)

    def next_revert(self) -> dict[str, Any] | None:
        return min(self.temp, key=lambda t: (t["until_ns"], t["id"]), default=None)

    def revert(self, t: dict[str, Any]) -> None:
        """Apply one pending revert (the core does this by itself at `until_ns`)."""
        self.temp.remove(t)
        scope = t["account"] or FIRM
        cur = self.scopes.setdefault(scope, {})
        for k, v in t["previous"].items():
            if v is None:
                cur.pop(k, None)
            else:
                cur[k] = v
        if scope != FIRM and not cur:
            del self.scopes[scope]


def _change_row(rec: dict[str, Any], before: Limits, after: Limits) -> dict[str, Any]:
    args = rec.get("args") or {}
    new = args.get("limits") or {}
    until = args.get("until_ns")
    approval = args.get("approval") if isinstance(args.get("approval"), dict) else None
    raise_ = is_raise(before, new)
    return {
        "utc": utc_text(int(rec["ts_ns"])), "ts_ns": int(rec["ts_ns"]), "kind": "raise" if raise_ else "decrease",
        "account": args.get("account"), "keys": sorted(new),
        "before": {k: before.get(k) for k in sorted(new)}, "after": {k: after.get(k) for k in sorted(new)},
        "requester": rec.get("operator"), "identity": rec.get("identity"), "approver": args.get("approver"),
        "approver_identity": approval.get("identity") if approval else None,
        "reason": rec.get("reason", ""), "expiry_utc": utc_text(int(until)) if isinstance(until, int) else None,
        "permanent": until is None, "id": rec.get("id"),
    }


def _revert_row(t: dict[str, Any], before: Limits, after: Limits) -> dict[str, Any]:
    keys = sorted(t["previous"]) or sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {
        "utc": utc_text(int(t["until_ns"])), "ts_ns": int(t["until_ns"]), "kind": "revert (automatic)",
        "account": t["account"], "keys": keys, "before": {k: before.get(k) for k in keys},
        "after": {k: after.get(k) for k in keys}, "requester": "core", "identity": None,
        "approver": None, "approver_identity": None, "reason": f"expiry of temporary raise {t['id']}",
        "expiry_utc": None, "permanent": False, "id": t["id"],
    }


def replay(book: LimitBook, audit: list[dict[str, Any]], open_ns: int, end_ns: int
           ) -> tuple[dict[str, Limits], list[dict[str, Any]], list[dict[str, Any]]]:
    """Apply the acked set_limits attempts of `audit` (oldest first) to `book`.

    Returns (limits in force at `open_ns`, every change and revert in [open_ns, end_ns) — and those before the
    open of the same day, marked `pre_open` — as rows, the temporary raises still pending at `end_ns`)."""
    rows: list[dict[str, Any]] = []
    at_open: dict[str, Limits] | None = None
    changes = sorted((r for r in audit if r.get("command") == "set_limits" and r.get("result") == "ok"),
                     key=lambda r: int(r.get("ts_ns") or 0))

    def revert_upto(t_ns: int) -> None:
        while (t := book.next_revert()) is not None and t["until_ns"] <= t_ns:
            before = book.effective(t["account"])
            book.revert(t)
            rows.append(_revert_row(t, before, book.effective(t["account"])))

    for rec in changes:
        ts = int(rec["ts_ns"])
        if ts >= end_ns:
            break
        revert_upto(ts)
        if at_open is None and ts >= open_ns:
            revert_upto(open_ns)
            at_open = book.snapshot()
        args = rec.get("args") or {}
        account = args.get("account")
        before = book.effective(account)
        book.apply(account, dict(args.get("limits") or {}), args.get("until_ns"), str(rec.get("id")))
        rows.append(_change_row(rec, before, book.effective(account)))
    if at_open is None:
        revert_upto(open_ns)
        at_open = book.snapshot()
    revert_upto(end_ns - 1)
    for r in rows:
        r["pre_open"] = r["ts_ns"] < open_ns
    pending = [{"account": t["account"], "until_utc": utc_text(int(t["until_ns"])), "id": t["id"]}
               for t in sorted(book.temp, key=lambda t: (t["until_ns"], t["id"]))]
    return at_open, rows, pending
