"""The clearer's drop copy of a day, as it books it: a seeded, deterministic plan of ExecutionReports.

Each fill of the day becomes one trade report (150=F), possibly booked wrong, delayed, followed by a bust
(150=H) or a correction (150=G) referencing it by ExecRefID(19), or sent twice (the second time with
PossResend 97=Y under a new sequence number, as a clearer's application-level resend does). Session-level
resends (PossDupFlag 43=Y under the original sequence number) come from the FIX engine itself when the
initiator asks. The plan is a pure function of (fills, config): the acceptor replays it after a restart and
recon tests know exactly which breaks must appear (`expected_breaks`).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hw.clearing_twin.book import Fill
from hw.refdata import ACCOUNTS, ACCOUNTS_BY_ID


class Fault(enum.StrEnum):
    WRONG_ACCOUNT = "wrong_account"  # booked to another of the firm's accounts -> ACCOUNT_MISMATCH
    WRONG_QTY = "wrong_qty"  # booked with another quantity -> QTY_MISMATCH
    BUST = "bust"  # booked, then busted -> BUSTED_TRADE
    CORRECT = "correct"  # booked, then corrected to another price -> CORRECTED_TRADE
    DUPLICATE = "duplicate"  # sent twice (97=Y): no break, the ops store keeps one
    DELAY = "delay"  # booked late but within the grace period: no break
    WITHHELD = "withheld"  # never booked -> MISSING_AT_CLEARING


# The break type intraday recon must report for each fault (names of flows.recon.breaks.BreakType).
EXPECTED_BREAK: dict[Fault, str | None] = {
    Fault.WRONG_ACCOUNT: "ACCOUNT_MISMATCH",
    Fault.WRONG_QTY: "QTY_MISMATCH",
    Fault.BUST: "BUSTED_TRADE",
    Fault.CORRECT: "CORRECTED_TRADE",
    Fault.DUPLICATE: None,
    Fault.DELAY: None,
    Fault.WITHHELD: "MISSING_AT_CLEARING",
}


@dataclass(frozen=True)
class FaultConfig:
    """How many fills get each fault (distinct fills, chosen by `seed`); delays in milliseconds."""

    seed: int = 1
    wrong_account: int = 1
    wrong_qty: int = 1
    busts: int = 1
    corrections: int = 1
    duplicates: int = 2
    delays: int = 3
    withheld: int = 0
    max_delay_ms: int = 30_000

    def fitted(self, n_fills: int) -> FaultConfig:
        """The same plan on a day too small for it: faults kept in the order of this dataclass's fields
        (booking errors first), as many as there are fills."""
        left, kept = n_fills, {}
        for name in ("wrong_account", "wrong_qty", "busts", "corrections", "duplicates", "delays", "withheld"):
            kept[name] = min(getattr(self, name), left)
            left -= kept[name]
        return FaultConfig(seed=self.seed, max_delay_ms=self.max_delay_ms, **kept)

    def counts(self) -> dict[Fault, int]:
        return {Fault.WRONG_ACCOUNT: self.wrong_account, Fault.WRONG_QTY: self.wrong_qty, Fault.BUST: self.busts,
                Fault.CORRECT: self.corrections, Fault.DUPLICATE: self.duplicates, Fault.DELAY: self.delays,
                Fault.WITHHELD: self.withheld}


@dataclass(frozen=True)
class Report:
    """One ExecutionReport to send. `exec_id` is ExecID(17); `ref_exec_id` the trade it busts/corrects."""

    kind: str  # trade | bust | correct
    exec_id: str
    ref_exec_id: str
    fill: Fill
    account: str
    clearing_account: str
    qty: int
    price: int
    release_ns: int  # when the clearer sends it (the fill's time + its booking delay)
    resend: bool = False  # PossResend(97)=Y: the same report again


@dataclass(frozen=True)
class FaultPlan:
    reports: tuple[Report, ...]
    faults: dict[str, Fault] = field(default_factory=dict)  # core exec id -> its fault

    def expected_breaks(self) -> dict[str, str]:
        """core exec id -> the break type recon must find (faults without a break left out)."""
        return {e: b for e, f in self.faults.items() if (b := EXPECTED_BREAK[f]) is not None}

    @property
    def trade_count(self) -> int:
        return sum(1 for r in self.reports if r.kind == "trade" and not r.resend)


def exec_key(fill: Fill) -> str:
    """The ExecID the clearer echoes: the core's exec id (EOD trade files carry the same one)."""
    return str(fill.exec_id)


def _other_account(account: str) -> str:
    codes = [a.account for a in ACCOUNTS]
    return codes[(codes.index(account) + 1) % len(codes)] if account in codes else codes[0]


def build_plan(fills: Iterable[Fill], config: FaultConfig | None = None) -> FaultPlan:
    """The day's reports in sending order (release time, then plan order); faults on distinct fills."""
    cfg = config or FaultConfig()
    day: Sequence[Fill] = sorted(fills, key=lambda f: (f.ts_ns, f.exec_id))
    rng = random.Random(cfg.seed)
    wanted = [(fault, n) for fault, n in cfg.counts().items() if n > 0]
    total = sum(n for _, n in wanted)
    if total > len(day):
        raise ValueError(f"fault plan wants {total} distinct fills, the day has {len(day)}")
    picked = rng.sample(range(len(day)), total)
    faults: dict[str, Fault] = {}
    i = 0
    for fault, n in wanted:
        for k in picked[i:i + n]:
            faults[exec_key(day[k])] = fault
        i += n
    out: list[tuple[int, int, Report]] = []
    for order, f in enumerate(day):
        key = exec_key(f)
        planned = faults.get(key)
        acct = ACCOUNTS_BY_ID[f.account].clearing_account if f.account in ACCOUNTS_BY_ID else ""
        account, qty = f.account, f.qty
        delay_ns = 1_000_000  # the clearer books within a millisecond unless the plan says otherwise
        if planned is Fault.WITHHELD:
            continue
        if planned is Fault.WRONG_ACCOUNT:
            account = _other_account(f.account)
            acct = ACCOUNTS_BY_ID[account].clearing_account
        elif planned is Fault.WRONG_QTY:
            qty = f.qty * 10 if f.qty < 1000 else f.qty // 10
        elif planned is Fault.DELAY:
            delay_ns = rng.randint(1, cfg.max_delay_ms) * 1_000_000
        trade = Report("trade", key, key, f, account, acct, qty, f.price, f.ts_ns + delay_ns)
        out.append((trade.release_ns, 2 * order, trade))
        later = f.ts_ns + delay_ns + 5_000_000_000
        if planned is Fault.BUST:
            out.append((later, 2 * order + 1, Report("bust", f"{key}-B", key, f, account, acct, 0, f.price, later)))
        elif planned is Fault.CORRECT:
            px = f.price + 100  # a cent at PRICE_SCALE 10_000
            out.append((later, 2 * order + 1,
                        Report("correct", f"{key}-C1", key, f, account, acct, qty, px, later)))
        elif planned is Fault.DUPLICATE:
            out.append((later, 2 * order + 1, Report("trade", key, key, f, account, acct, qty, f.price, later,
                                                     resend=True)))
    out.sort(key=lambda t: (t[0], t[1]))
    return FaultPlan(tuple(r for _, _, r in out), faults)
