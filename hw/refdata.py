"""Reference data shared by the twins: the firm's prop accounts and the security master.

One table each, so a test, the demo, the clearing twin and the CAT builder all agree. The CUSIPs are the
issuers' real ones (check digits verified by a test); reference prices are round illustrative levels.
"""

from __future__ import annotations

from dataclasses import dataclass

from core_bridge.identifiers import isin_from_cusip
from core_bridge.protocol import to_fixed


@dataclass(frozen=True)
class Account:
    account: str  # the core's account code (drop-copy `account`, max 8 ASCII)
    clearing_account: str  # the clearing firm's account number
    fdid: str  # CAT firmDesignatedID
    fdid_pending: bool = False  # FDID not yet assigned at order time -> MENOS supplement later
    description: str = ""


@dataclass(frozen=True)
class Security:
    symbol: str
    cusip: str
    listing: str  # primary listing: Q Nasdaq, N NYSE, P NYSE Arca
    luld_tier: int
    ref_price: int  # PRICE_SCALE fixed point

    @property
    def isin(self) -> str:
        return isin_from_cusip(self.cusip)


ACCOUNTS: tuple[Account, ...] = (
    Account("PROP01", "3PX00101", "PROPMM01", description="market making, large caps"),
    Account("PROP02", "3PX00102", "PROPARB02", description="index arbitrage"),
    Account("PROP03", "3PX00103", "PROPSTAT03", description="statistical arbitrage"),
    Account("PROP04", "3PX00104", "PROPNEW04", fdid_pending=True, description="new desk, FDID pending"),
)

_SEC = [
    ("AAPL", "037833100", "Q", 1, "230.00"),
    ("MSFT", "594918104", "Q", 1, "420.00"),
    ("AMZN", "023135106", "Q", 1, "185.00"),
    ("GOOGL", "02079K305", "Q", 1, "170.00"),
    ("META", "30303M102", "Q", 1, "560.00"),
    ("NVDA", "67066G104", "Q", 1, "130.00"),
    ("TSLA", "88160R101", "Q", 1, "250.00"),
    ("INTC", "458140100", "Q", 1, "22.00"),
    ("CSCO", "17275R102", "Q", 1, "55.00"),
    ("WMT", "931142103", "Q", 1, "80.00"),
    ("JPM", "46625H100", "N", 1, "210.00"),
    ("XOM", "30231G102", "N", 1, "115.00"),
    ("JNJ", "478160104", "N", 1, "160.00"),
    ("BAC", "060505104", "N", 1, "40.00"),
    ("KO", "191216100", "N", 1, "65.00"),
    ("PFE", "717081103", "N", 1, "27.00"),
    ("T", "00206R102", "N", 1, "21.00"),
    ("DIS", "254687106", "N", 1, "95.00"),
    ("IBM", "459200101", "N", 1, "210.00"),
    ("SPY", "78462F103", "P", 1, "570.00"),
]
SECURITIES: tuple[Security, ...] = tuple(Security(s, c, m, t, to_fixed(p)) for s, c, m, t, p in _SEC)

ACCOUNTS_BY_ID = {a.account: a for a in ACCOUNTS}
SECURITIES_BY_SYMBOL = {s.symbol: s for s in SECURITIES}
SECURITIES_BY_CUSIP = {s.cusip: s for s in SECURITIES}
