"""Known breaks injected on purpose: pure transforms over the clearer-side frames and the core snapshot.

The twins produce a consistent day (clearer EOD = SOD + fills, core = SOD + fills); each scenario here
damages one thing the way the real world does and says which break(s) reconciliation must report — no
more, no less. Tests and the demo call `inject(day, names)`; targets are chosen deterministically and never
overlap, so any combination of scenarios has an exact expected result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import pandas as pd

from core_bridge.identifiers import cusip_check_digit
from flows.recon.breaks import BreakType
from flows.recon.frames import CORP_ACTION_COLUMNS, empty

LOT = 100
PRICE_BUMP = 100  # 0.01 in PRICE_SCALE fixed point
# A CUSIP change target in the reserved user-assigned issuer range (99A-99Z), with a valid check digit.
NEW_CUSIP = "99999Z10" + str(cusip_check_digit("99999Z10"))
NEW_SYMBOL = "CHGD"


@dataclass(frozen=True)
class ScenarioDay:
    trade_date: str
    clearing_positions: pd.DataFrame  # frames.CLEARING_POSITION_COLUMNS (+ symbol if present)
    clearing_trades: pd.DataFrame  # frames.CLEARING_TRADE_COLUMNS
    core_positions: dict[str, dict[str, int]]  # the core snapshot's {account: {symbol: qty}}
    corporate_actions: pd.DataFrame = field(default_factory=lambda: empty(CORP_ACTION_COLUMNS))
    cutoff_ns: int | None = None  # set by late_trade: the clearer's cutoff that makes the last fill late
    carried_trades: pd.DataFrame | None = None  # clearer trades that belong in the next day's file
    touched: frozenset[str] = frozenset()  # exec ids / CUSIPs already used by a scenario
    expected: tuple[tuple[str, str], ...] = ()  # (break type, key) every reconciliation must report


def _pick_trade(day: ScenarioDay, nth: int = 0) -> pd.Series:
    t = day.clearing_trades
    t = t.loc[~t["exec_id"].isin(day.touched) & ~t["cusip"].isin(day.touched)]
    if t.empty:
        raise ValueError("scenario needs an untouched clearer trade; the day has none left")
    t = t.sort_values("exec_id", kind="stable")
    return t.iloc[min(nth, len(t) - 1)]


def _adjust_td(positions: pd.DataFrame, account: str, cusip: str, delta: int) -> pd.DataFrame:
    """The clearer's EOD TD quantity moves with the trade it booked (today's trades are unsettled: SD stays)."""
    p = positions.copy()
    hit = (p["account"] == account) & (p["cusip"] == cusip)
    if bool(hit.any()):
        p.loc[hit, "td_qty"] = p.loc[hit, "td_qty"] + delta
        return p
    row = {c: "" for c in p.columns} | {"account": account, "cusip": cusip, "td_qty": delta, "sd_qty": 0}
    return pd.concat([p, pd.DataFrame([row])], ignore_index=True).astype(p.dtypes.to_dict())


def _touch(day: ScenarioDay, *items: str) -> frozenset[str]:
    return day.touched | frozenset(items)


def missing_fill_at_clearing(day: ScenarioDay) -> ScenarioDay:
    tr = _pick_trade(day, 0)
    signed = int(tr["side"]) * int(tr["qty"])
    return replace(
        day,
        clearing_trades=day.clearing_trades.loc[day.clearing_trades["exec_id"] != tr["exec_id"]].reset_index(drop=True),
        clearing_positions=_adjust_td(day.clearing_positions, tr["account"], tr["cusip"], -signed),
        touched=_touch(day, tr["exec_id"]),
        expected=day.expected + ((BreakType.MISSING_AT_CLEARING.value, str(tr["exec_id"])),),
    )


def qty_off_by_lot(day: ScenarioDay) -> ScenarioDay:
    tr = _pick_trade(day, 1)
    t = day.clearing_trades.copy()
    t.loc[t["exec_id"] == tr["exec_id"], "qty"] = int(tr["qty"]) + LOT
    return replace(
        day,
        clearing_trades=t,
        clearing_positions=_adjust_td(day.clearing_positions, tr["account"], tr["cusip"], int(tr["side"]) * LOT),
        touched=_touch(day, tr["exec_id"]),
        expected=day.expected + ((BreakType.QTY_MISMATCH.value, str(tr["exec_id"])),),
    )


def price_difference(day: ScenarioDay) -> ScenarioDay:
    tr = _pick_trade(day, 2)
    t = day.clearing_trades.copy()
    t.loc[t["exec_id"] == tr["exec_id"], "price"] = int(tr["price"]) + PRICE_BUMP
    return replace(
        day, clearing_trades=t, touched=_touch(day, tr["exec_id"]),
        expected=day.expected + ((BreakType.PRICE_MISMATCH.value, str(tr["exec_id"])),),
    )


def late_trade_after_cutoff(day: ScenarioDay) -> ScenarioDay:
    """The day's last fill(s) came after the clearer's cutoff: out of today's file, into tomorrow's."""
    t = day.clearing_trades
    free = t.loc[~t["exec_id"].isin(day.touched) & ~t["cusip"].isin(day.touched)]
    if free.empty or free["ts_ns"].max() < t["ts_ns"].max():
        raise ValueError("late_trade_after_cutoff needs the day's last fill untouched; apply it first")
    cutoff = int(t["ts_ns"].max()) - 1
    late = t.loc[t["ts_ns"] > cutoff]
    pos = day.clearing_positions
    for _, tr in late.iterrows():
        pos = _adjust_td(pos, tr["account"], tr["cusip"], -int(tr["side"]) * int(tr["qty"]))
    return replace(
        day,
        clearing_trades=t.loc[t["ts_ns"] <= cutoff].reset_index(drop=True),
        clearing_positions=pos,
        cutoff_ns=cutoff,
        carried_trades=late.reset_index(drop=True),
        touched=_touch(day, *late["exec_id"]),
        expected=day.expected + tuple((BreakType.TIMING_AFTER_CUTOFF.value, str(e)) for e in late["exec_id"]),
    )


def corporate_action(day: ScenarioDay) -> ScenarioDay:
    """The clearer moved one security to a new CUSIP and symbol (a notice the books have not applied)."""
    p = day.clearing_positions
    held = p.loc[(p["td_qty"] != 0) & ~p["cusip"].isin(day.touched)]
    traded = set(day.clearing_trades.loc[day.clearing_trades["exec_id"].isin(day.touched), "cusip"])
    held = held.loc[~held["cusip"].isin(traded)]
    if held.empty:
        raise ValueError("corporate_action needs a held security no other scenario touched")
    old = str(held.sort_values(["cusip", "account"]).iloc[0]["cusip"])
    pos = p.copy()
    accounts = sorted(pos.loc[(pos["cusip"] == old) & (pos["td_qty"] != 0), "account"])
    pos.loc[pos["cusip"] == old, "cusip"] = NEW_CUSIP
    if "symbol" in pos.columns:
        pos.loc[pos["cusip"] == NEW_CUSIP, "symbol"] = NEW_SYMBOL
    t = day.clearing_trades.copy()
    t.loc[t["cusip"] == old, "symbol"] = NEW_SYMBOL
    t.loc[t["cusip"] == old, "cusip"] = NEW_CUSIP
    ca = pd.DataFrame([{"old_cusip": old, "new_cusip": NEW_CUSIP, "new_symbol": NEW_SYMBOL, "ratio_num": 1,
                        "ratio_den": 1, "effective_date": day.trade_date}])
    ca = pd.concat([day.corporate_actions, ca], ignore_index=True).astype(day.corporate_actions.dtypes.to_dict())
    return replace(
        day, clearing_positions=pos, clearing_trades=t, corporate_actions=ca, touched=_touch(day, old, NEW_CUSIP),
        expected=day.expected + tuple((BreakType.CORPORATE_ACTION.value, f"{a}|{old}") for a in accounts),
    )


def core_diverges(day: ScenarioDay, cusip_of: dict[str, str] | None = None) -> ScenarioDay:
    """The core's own position in one (account, symbol) is off by a lot (a lost fill inside the core)."""
    from hw.refdata import SECURITIES_BY_SYMBOL

    cusips = cusip_of or {s: sec.cusip for s, sec in SECURITIES_BY_SYMBOL.items()}
    candidates = sorted(
        (a, s) for a, h in day.core_positions.items() for s in h if cusips.get(s) and cusips[s] not in day.touched
    )
    if not candidates:
        raise ValueError("core_diverges needs a core position no other scenario touched")
    acct, sym = candidates[len(candidates) // 2]
    core = {a: dict(h) for a, h in day.core_positions.items()}
    core[acct][sym] += LOT
    return replace(
        day, core_positions=core, touched=_touch(day, cusips[sym]),
        expected=day.expected + ((BreakType.CORE_DIVERGES.value, f"{acct}|{cusips[sym]}"),),
    )


SCENARIOS: dict[str, Callable[[ScenarioDay], ScenarioDay]] = {
    "late_trade_after_cutoff": late_trade_after_cutoff,  # first: it needs the day's last fill
    "missing_fill_at_clearing": missing_fill_at_clearing,
    "qty_off_by_lot": qty_off_by_lot,
    "price_difference": price_difference,
    "corporate_action": corporate_action,
    "core_diverges": core_diverges,
}


def inject(day: ScenarioDay, names: Iterable[str]) -> ScenarioDay:
    """Apply scenarios in SCENARIOS order (whatever order they are named in) so targets never collide."""
    wanted = set(names)
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    for name, fn in SCENARIOS.items():
        if name in wanted:
            day = fn(day)
    return day
