"""The twin's short-sale lists: which names are easy to borrow, pre-borrow only, or threshold securities.

One table each so a test can name the case it exercises: a threshold name is not on the clearer's ETB list
(SEC Reg SHO FAQ 4.2: reliance on an ETB list is unreasonable for names with delivery failures), a
Rule 204(b) name needs a pre-borrow, every other traded name is easy to borrow.
"""

from __future__ import annotations

from hw.refdata import SECURITIES

CLEARER = "CLEARTWIN"

# Threshold securities by listing market (refdata listing codes Q/N/P), plus names the firm never trades
# (real lists are mostly small caps), so the union has to cope with unknown symbols.
THRESHOLD_TRADED = {"Q": ("TSLA",), "N": ("PFE",), "P": ()}
THRESHOLD_OTHER = {
    "Q": (("ZVZZT", "Nasdaq Test Stock Common Stock", "Q"), ("QQQX", "Quux Therapeutics Inc.", "S")),
    "N": (("NTEST", "NYSE Tst Symbol Inc.", "NYSE"),),
    "A": (("ATEST", "NYSE American Test Co.", "NYSE American"),),
    "P": (("PTEST", "NYSE Arca Test Trust", "NYSE Arca"),),
}
# Rule 204(b) pre-borrow names: symbol -> shares the clearer pre-borrowed for the firm.
PREBORROW = {"INTC": 2_000, "PFE": 0}
ETB_AVAILABLE = 1_000_000  # shares per ETB name (the clearer's list caps what it reports)


def etb_symbols() -> list[str]:
    blocked = {s for names in THRESHOLD_TRADED.values() for s in names} | set(PREBORROW)
    return [s.symbol for s in SECURITIES if s.symbol not in blocked]
