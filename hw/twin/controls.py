"""Control state commands: what an operator or a flow sets on the core, and the gate's view of it.

Kill levels (firm / account / symbol / venue) and cancel-all, 15c3-5 limits with their temporary raises and
reverts (operators stay within `state.POLICY_CEILING`; above it needs an admin key), buying power, locates,
the restricted list, halts and MWCB, start-of-day positions. Each handler validates its args, changes
`TwinState` and recompiles the gate (`refresh_risk`); the dispatcher bumps state_version and persists.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from core_bridge.auth import Identity
from core_bridge.protocol import (
    KILL_SCOPE_CODES,
    PRICE_SCALE,
    EventType,
    KillLevel,
    KillScope,
    Request,
    Role,
    Venue,
)
from core_bridge.reasons import ReasonCode
from hw.twin import risk
from hw.twin.approvals import ApprovalKeys, check_approval
from hw.twin.command_args import ArgsInvalid, Refused, _ascii8, _date, _dec, _enum, _scope_key, _uint
from hw.twin.orders import Order, OrderPath
from hw.twin.state import limit_above_policy, normalize_limit


class ControlCommands(OrderPath):
    """Mixin of `engine.CoreEngine`: the control-state command handlers (registered in its `handlers`)."""

    approval_keys: ApprovalKeys | None = None  # set by the server: what checks four-eyes approval records

    # ------------------------------------------------------------------ state -> gate
    def refresh_kill(self) -> None:
        """The gate's view of the kill levels, after a kill: all a kill changes (the kill path of the control
        loop recompiles nothing else: limits and buying power are re-parsed from text)."""
        st, r = self.state, self.risk
        r.kill_firm = st.kill_firm
        r.kill = st.kill
        r.state_unknown = st.state_unknown

    def refresh_risk(self) -> None:
        """Recompile the gate's view after a control change (a few dicts)."""
        st, r = self.state, self.risk
        self.refresh_kill()
        firm = st.limits["firm"]
        r.firm_limits = risk.Limits.compile(firm)
        r.account_limits = {a: risk.Limits.compile({**firm, **v}) for a, v in st.limits.items() if a != "firm"}
        r.bp = {a: int(Decimal(v) * PRICE_SCALE) for a, v in st.bp.items()}
        r.locates = st.locates
        r.restricted = frozenset(st.restricted)
        r.preborrow_required = st.preborrow_required
        r.halts = st.halts
        r.mwcb_level = st.mwcb_level

    # ------------------------------------------------------------------ control commands
    def _set_kill(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        scope, key = _scope_key(req.args)
        try:
            level = _enum(KillLevel, req.args.get("level"), "level")
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        st = self.state
        if key is None:
            previous = st.kill_firm
            st.kill_firm = level
            st.state_unknown = False  # an operator has now set the firm level explicitly
        else:
            levels = st.kill[scope]
            previous = levels.get(key, KillLevel.ACTIVE)
            if level is KillLevel.ACTIVE:
                levels.pop(key, None)
            else:
                levels[key] = level
        self.refresh_kill()
        if previous is not level:
            self._emit(now, EventType.KILL_STATE_CHANGED, qty=KILL_SCOPE_CODES[scope], price=int(level),
                       account=key if scope is KillScope.ACCOUNT and key else "",
                       symbol=key if scope is KillScope.SYMBOL and key else "",
                       venue=int(Venue[key]) if scope is KillScope.VENUE and key else 0)
        return {"scope": scope.value, "key": key, "level": level.name, "previous": previous.name}

    def _cancel_all(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        scope, key = _scope_key(req.args)
        victims = self.cancel_all(scope, key, now)
        # The list is what the kill-to-flat flow waits for; the confirmation is each ORDER_CANCELLED event.
        return {"cancelled": len(victims), "orders": [{"order_id": oid, "venue": v} for oid, v in victims]}

    def cancel_all(self, scope: KillScope, key: str | None, now: int) -> list[tuple[int, str]]:
        def match(o: Order) -> bool:
            if scope is KillScope.FIRM:
                return True
            if scope is KillScope.ACCOUNT:
                return o.account == key
            if scope is KillScope.SYMBOL:
                return o.symbol == key
            return o.venue.name == key

        victims = [(oid, o.venue.name) for oid, o in self.orders.items() if match(o)]
        for oid, _ in victims:
            self.cancel(oid, now, cancel_all=True)
        return victims

    def _set_limits(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        account = a.get("account")
        approver = a.get("approver")
        until_ns = a.get("until_ns")
        limits = a.get("limits")
        try:
            if account is not None:
                _ascii8(account, "account")
                if account not in self.known_accounts():
                    raise ValueError(f"unknown account {account!r}")
            if not isinstance(approver, str) or not approver.strip():
                raise ValueError("approver is required")
            if until_ns is not None and (not isinstance(until_ns, int) or isinstance(until_ns, bool)
                                         or until_ns <= now or until_ns > 2**63 - 1):
                raise ValueError("until_ns must be a future UTC-ns integer or null")
            if not isinstance(limits, dict) or not limits:
                raise ValueError("limits must be a non-empty object")
            new = {str(k): normalize_limit(str(k), v) for k, v in limits.items()}
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        if not ident.role.allows(Role.ADMIN):
            over = [k for k, v in new.items() if limit_above_policy(k, v)]
            if over:
                raise Refused(ReasonCode.LIMIT_POLICY_EXCEEDED, f"above operator policy: {', '.join(sorted(over))}")
        approved_by = None
        if a.get("approval") is not None:  # four eyes (hw/twin/approvals.py); corectl sends one with every raise
            approved_by = check_approval(a["approval"], self.approval_keys, sender=ident, account=account,
                                         limits=new, until_ns=until_ns, now_ns=time.time_ns()).name
        st = self.state
        scope = account or "firm"
        cur = st.limits.setdefault(scope, {})
        if until_ns is not None:
            previous: dict[str, int | str | None] = {k: cur.get(k) for k in new}
            for t in st.temp_limits:  # a newer raise of the same key takes over the older one's revert value
                if t["account"] == account:
                    for k in new:
                        if k in t["previous"]:
                            previous[k] = t["previous"].pop(k)
            st.temp_limits.append({"account": account, "limits": new, "previous": previous, "until_ns": until_ns,
                                   "approver": approver, "operator": req.operator, "approved_by": approved_by})
        else:
            for t in st.temp_limits:  # a permanent change of a key cancels a pending revert of that key
                if t["account"] == account:
                    for k in new:
                        t["previous"].pop(k, None)
        cur.update(new)
        self._limits_changed(now, account)
        return {"limits_version": st.limits_version, "account": account, "limits": self.effective_limits(account),
                "until_ns": until_ns, "approved_by": approved_by}

    def effective_limits(self, account: str | None) -> dict[str, int | str]:
        firm = self.state.limits["firm"]
        return dict(firm) if account is None else {**firm, **self.state.limits.get(account, {})}

    def _limits_changed(self, now: int, account: str | None) -> None:
        self.state.limits_version += 1
        self.refresh_risk()
        self._emit(now, EventType.LIMITS_CHANGED, qty=self.state.limits_version, account=account or "")

    def revert_due_limits(self, now: int) -> bool:
        """Revert temporary raises whose time has come; True if anything changed (caller persists)."""
        st = self.state
        due = [t for t in st.temp_limits if t["until_ns"] <= now]
        if not due:
            return False
        for t in sorted(due, key=lambda t: t["until_ns"]):
            st.temp_limits.remove(t)
            scope = t["account"] or "firm"
            cur = st.limits.setdefault(scope, {})
            for k, v in t["previous"].items():
                if v is None:
                    cur.pop(k, None)
                else:
                    cur[k] = v
            if scope != "firm" and not cur:
                del st.limits[scope]
            self._limits_changed(now, t["account"])
        st.state_version += 1
        return True

    def next_revert_ns(self) -> int | None:
        return min((t["until_ns"] for t in self.state.temp_limits), default=None)

    def _set_bp(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        bp, as_of = a.get("bp"), a.get("as_of_ns")
        try:
            if not isinstance(bp, dict) or not bp:
                raise ValueError("bp must be a non-empty object {account: decimal}")
            vals = {_ascii8(k, "account"): format(_dec(v, f"bp[{k}]").normalize(), "f") for k, v in bp.items()}
            _uint(as_of, "as_of_ns", 2**63 - 1)
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.bp.update(vals)
        self.state.bp_as_of_ns = as_of
        self.refresh_risk()
        return {"accounts": sorted(vals)}

    def _set_locates(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        date, loc = a.get("date"), a.get("locates")
        try:
            _date(date)
            if not isinstance(loc, dict):
                raise ValueError("locates must be an object {symbol: shares}")
            vals = {_ascii8(k, "symbol"): _uint(v, f"locates[{k}]") for k, v in loc.items()}
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.locates = vals
        self.state.locates_date = date
        self.refresh_risk()
        return {"symbols": len(vals)}

    def _set_restricted(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        syms = req.args.get("symbols")
        try:
            if not isinstance(syms, list):
                raise ValueError("symbols must be a list")
            vals = sorted({_ascii8(s, "symbol") for s in syms})
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.restricted = vals
        self.refresh_risk()
        return {"symbols": vals}

    def _set_preborrow(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        """The whole penalty box (replaces the last one): symbol -> shares pre-borrowed for the firm."""
        a = req.args
        date, syms = a.get("date"), a.get("symbols")
        try:
            _date(date)
            if not isinstance(syms, dict):
                raise ValueError("symbols must be an object {symbol: pre-borrowed shares}")
            vals = {_ascii8(k, "symbol"): _uint(v, f"symbols[{k}]") for k, v in syms.items()}
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.state.preborrow_required = dict(sorted(vals.items()))
        self.state.preborrow_date = date
        self.refresh_risk()
        return {"symbols": sorted(vals), "date": date}

    def _set_halts(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        halts, mwcb = a.get("halts", {}), a.get("mwcb_level")
        try:
            if not isinstance(halts, dict):
                raise ValueError("halts must be an object {symbol: HALTED|LULD_PAUSE|OPEN}")
            if not halts and mwcb is None:
                raise ValueError("nothing to set: give halts and/or mwcb_level")
            vals = {}
            for k, v in halts.items():
                if v not in ("HALTED", "LULD_PAUSE", "OPEN"):
                    raise ValueError(f"halts[{k}] must be HALTED, LULD_PAUSE or OPEN")
                vals[_ascii8(k, "symbol")] = v
            if mwcb is not None and (_uint(mwcb, "mwcb_level") > 3):
                raise ValueError("mwcb_level must be 0..3")
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        st = self.state
        for k, v in vals.items():
            if v == "OPEN":
                st.halts.pop(k, None)
            else:
                st.halts[k] = v
        if mwcb is not None:
            st.mwcb_level = mwcb
        self.refresh_risk()
        return {"halted": dict(sorted(st.halts.items())), "mwcb_level": st.mwcb_level}

    def _set_sod_positions(self, req: Request, ident: Identity, now: int) -> dict[str, Any]:
        a = req.args
        date, pos = a.get("date"), a.get("positions")
        try:
            _date(date)
            if not isinstance(pos, dict):
                raise ValueError("positions must be an object {account: {symbol: shares}}")
            vals: dict[tuple[str, str], int] = {}
            for acct, syms in pos.items():
                _ascii8(acct, "account")
                if not isinstance(syms, dict):
                    raise ValueError(f"positions[{acct}] must be an object")
                for sym, q in syms.items():
                    _ascii8(sym, "symbol")
                    if not isinstance(q, int) or isinstance(q, bool) or abs(q) > 2**40:
                        raise ValueError(f"positions[{acct}][{sym}] must be an integer")
                    vals[(acct, sym)] = q
        except ValueError as exc:
            raise ArgsInvalid(str(exc)) from None
        self.risk.positions = {k: v for k, v in vals.items() if v}
        st = self.state
        st.sod_date = date
        st.accounts = sorted(set(st.accounts) | {a for a in pos})
        self.sync_positions()
        return {"accounts": len(pos), "positions": len(vals)}
