"""The colo side and the firm's counterparties, as faithful twins that speak the real formats.

`twin/` — the trading core's twin (same wire protocol, risk gate, kill switch, sequenced events, HA pair);
`core_sdk/` — the contract in C for the core's team (generated header, reference C core);
`clearing_twin/` — the clearing firm's files and SFTP server; `cat_twin/` — FINRA CAT's submission SFTP and
feedback; `hosts`, `netns`, `procs` — colo hosts, their trading networks and process liveness; `refdata`.

May import from core_bridge only the contract (protocol, reasons, auth, identifiers, settings); never flows or
reports (tests/unit/test_import_layout.py).
"""
