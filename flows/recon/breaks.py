"""The ONE enum of reconciliation break types, their documented meanings, and deterministic break ids.

`python -m flows.recon.breaks > docs/recon_breaks.md` regenerates the docs table; a unit test keeps the two
in step (the nautilus_trader habit for reason codes). Add a type only with its meaning, phase and rule.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass


class BreakType(enum.StrEnum):
    """What disagrees. Values are stored in the ops DB and printed in reports: never rename one."""

    QTY_MISMATCH = "QTY_MISMATCH"
    MISSING_AT_CLEARING = "MISSING_AT_CLEARING"
    MISSING_INTERNAL = "MISSING_INTERNAL"
    PRICE_MISMATCH = "PRICE_MISMATCH"
    SIDE_MISMATCH = "SIDE_MISMATCH"
    TIMING_AFTER_CUTOFF = "TIMING_AFTER_CUTOFF"
    CORPORATE_ACTION = "CORPORATE_ACTION"
    CORE_DIVERGES = "CORE_DIVERGES"
    SETTLEMENT_MISMATCH = "SETTLEMENT_MISMATCH"
    ACCOUNT_MISMATCH = "ACCOUNT_MISMATCH"
    BUSTED_TRADE = "BUSTED_TRADE"
    CORRECTED_TRADE = "CORRECTED_TRADE"


class BreakStatus(enum.StrEnum):
    OPEN = "OPEN"  # needs a person: ages by business days until signed off
    CARRIED = "CARRIED"  # expected to clear by itself on a later day (timing); still open, still ages
    AUTO_RESOLVED = "AUTO_RESOLVED"  # an explicit rule in flows/recon/autoresolve.py closed it
    SIGNED_OFF = "SIGNED_OFF"  # a person closed it (who, when, note recorded)


OPEN_STATUSES = frozenset({BreakStatus.OPEN, BreakStatus.CARRIED})


@dataclass(frozen=True)
class BreakInfo:
    phase: str  # executions | positions | core
    key: str  # what the break is keyed on (part of its id)
    meaning: str
    resolution: str  # how it closes


BREAK_INFO: dict[BreakType, BreakInfo] = {
    BreakType.QTY_MISMATCH: BreakInfo(
        "executions, positions",
        "exec id / account+CUSIP",
        "The same execution carries a different quantity at the clearer; or a trade-date position differs "
        "after every execution-level break has been accounted for (SOD or booking error at one side).",
        "Sign-off. A position break also closes by itself when the position agrees again (POSITION_NOW_AGREES).",
    ),
    BreakType.MISSING_AT_CLEARING: BreakInfo(
        "executions",
        "exec id",
        "An execution in the journal (drop copy) that the clearer's trade file does not have, executed "
        "before the clearer's cutoff.",
        "Sign-off (usually after the clearer books the trade as-of).",
    ),
    BreakType.MISSING_INTERNAL: BreakInfo(
        "executions",
        "clearer exec id",
        "A trade in the clearer's file that the journal does not have: a lost drop copy, or a trade booked "
        "to the firm in error. If the core's own position agrees with the clearer, the journal lost the fill.",
        "Sign-off.",
    ),
    BreakType.PRICE_MISMATCH: BreakInfo(
        "executions",
        "exec id",
        "The same execution at a price that differs by more than the tolerance (default 0: prices are exact).",
        "Sign-off.",
    ),
    BreakType.SIDE_MISMATCH: BreakInfo(
        "executions",
        "exec id",
        "The same execution booked buy at one side and sell at the other (short marking is not compared here).",
        "Sign-off.",
    ),
    BreakType.TIMING_AFTER_CUTOFF: BreakInfo(
        "executions",
        "exec id",
        "An execution after the clearer's file cutoff that is not in today's clearer file; it is carried to the "
        "next day, and the position difference it explains is not reported separately.",
        "Auto (TIMING_ARRIVED) when it appears in a later clearer trade file; otherwise ages and needs sign-off.",
    ),
    BreakType.CORPORATE_ACTION: BreakInfo(
        "positions",
        "account+old CUSIP",
        "The clearer holds the position under a new identifier after a corporate action notice (symbol/CUSIP "
        "change, split) while the internal books still hold the old one; quantities agree after the action.",
        "Sign-off once the security master and the core are updated; closes by itself when positions agree.",
    ),
    BreakType.CORE_DIVERGES: BreakInfo(
        "core",
        "account+CUSIP",
        "The core's own position snapshot differs from SOD + the journal's executions, and the difference "
        "is not explained by a fill the journal lost.",
        "Sign-off; closes by itself when the core agrees with the journal again (POSITION_NOW_AGREES).",
    ),
    BreakType.SETTLEMENT_MISMATCH: BreakInfo(
        "positions",
        "account+CUSIP / exec id",
        "The clearer's settle-date quantity (or a trade's settlement date) is not what the T+1 settlement "
        "calendar implies for its trade-date quantity and unsettled trades.",
        "Sign-off; a position break closes by itself when it agrees again (POSITION_NOW_AGREES).",
    ),
    BreakType.ACCOUNT_MISMATCH: BreakInfo(
        "intraday executions",
        "exec id",
        "The clearer's drop copy books the execution to another Account(1) or ClearingAccount(440) than the "
        "journal's account maps to (flows/recon/intraday.py).",
        "Sign-off; closes by itself (CORRECTED_BY_CLEARER) when a 150=G correction books it right.",
    ),
    BreakType.BUSTED_TRADE: BreakInfo(
        "intraday executions",
        "exec id",
        "The clearer busted the execution (ExecType 150=H) while the journal and the core still hold it.",
        "Sign-off (the desk confirms the bust with the venue and the core's position is adjusted).",
    ),
    BreakType.CORRECTED_TRADE: BreakInfo(
        "intraday executions",
        "exec id",
        "The clearer corrected the execution (ExecType 150=G) to values that differ from the journal's; "
        "the detail names the fields.",
        "Sign-off; closes by itself when a later correction agrees with the journal.",
    ),
}


def break_id(trade_date: str, btype: BreakType | str, key: str) -> str:
    """Deterministic id: the same finding on a re-run of the same date gets the same id (idempotent store)."""
    digest = hashlib.sha256(f"{trade_date}|{BreakType(btype).value}|{key}".encode()).hexdigest()
    return f"B{digest[:15].upper()}"


def markdown_table() -> str:
    lines = [
        "# Reconciliation break types",
        "",
        "Generated by `python -m flows.recon.breaks > docs/recon_breaks.md` from `flows/recon/breaks.py`;",
        "a unit test keeps the two in step. Break ids are `B` + 15 hex digits of sha256(date|type|key).",
        "",
        "| type | phase | keyed on | meaning | how it closes |",
        "|---|---|---|---|---|",
    ]
    for bt in BreakType:
        info = BREAK_INFO[bt]
        lines.append(f"| `{bt.value}` | {info.phase} | {info.key} | {info.meaning} | {info.resolution} |")
    lines += [
        "",
        "## Statuses",
        "",
        "| status | meaning |",
        "|---|---|",
        "| `OPEN` | needs a person; ages by NYSE business days until signed off |",
        "| `CARRIED` | expected to clear by itself on a later day (timing); still counted open and aged |",
        "| `AUTO_RESOLVED` | closed by an explicit rule in `flows/recon/autoresolve.py` (rule name recorded) |",
        "| `SIGNED_OFF` | closed by a person: who, when (UTC) and note are recorded in the store |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(), end="")
