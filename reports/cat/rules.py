"""Cross-record CAT rules: what a per-record schema cannot see. Streaming, so 10 M records fit in memory.

Rules (name -> CAT error it prevents, where one exists):
    order_key_unique        an order key (orderKeyDate, IMID, symbol, orderID) is created once (MENO / new-id MEOM)
    links_to_order          MEOR/MEMR/MECR/MEOC/MENOS/MEOM reference an order key created by a MENO chain
    route_linkage_unique    (date, senderIMID, destination, symbol, session, routedOrderID) unique per route
    leaves_le_quantity      leavesQty <= quantity (2040)
    firmroeid_date          firmROEID date part = eventTimestamp's New York date (2033); firmROEID unique
    timestamp_not_future    eventTimestamp not after "now" (2139)
    timestamps_in_order     an order's events do not go back in time
Keys are kept as 64-bit hashes of the tuples (collision odds ~1e-7 at 10 M keys) to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.cat.encode import et_date_int


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    firm_roe_id: str = ""
    event: str = ""
    field: str = ""
    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line} " if self.file else ""
        fld = f"{self.field}: " if self.field else ""
        return f"{where}{self.event} {self.firm_roe_id} [{self.rule}] {fld}{self.message}"


def _ts_int(v: Any) -> int | None:
    return v if type(v) is int else None


class CrossRecordChecker:
    """Feed records in file order with `add`; `finish` returns every finding."""

    def __init__(self, imid: str, now_ns: int) -> None:
        self.imid = imid
        self.now_ns = now_ns
        self.keys: dict[int, list[int]] = {}  # order key hash -> [last eventTimestamp, quantity]
        self.refs: list[tuple[int, str, str, int]] = []  # unresolved (key hash, roe, type, ts)
        self.routes: set[int] = set()
        self.roes: set[int] = set()
        self.findings: list[Finding] = []

    def _f(self, rule: str, msg: str, r: dict[str, Any], field: str = "") -> None:
        self.findings.append(Finding(rule, msg, str(r.get("firmROEID", "")), str(r.get("type", "")), field))

    def add(self, r: dict[str, Any]) -> None:
        et = r.get("type")
        roe = r.get("firmROEID", "")
        ts = _ts_int(r.get("eventTimestamp"))
        if ts is not None:
            if ts > self.now_ns:
                self._f("timestamp_not_future", "eventTimestamp is in the future", r, "eventTimestamp")
            if isinstance(roe, str) and roe[:8] != str(et_date_int(ts)):
                self._f("firmroeid_date", f"firmROEID date {roe[:8]} != event date {et_date_int(ts)}", r, "firmROEID")
        h = hash((roe, r.get("actionType")))
        if h in self.roes:
            self._f("firmroeid_date", "firmROEID is not unique for the date", r, "firmROEID")
        self.roes.add(h)
        if "leavesQty" in r and "quantity" in r and r["leavesQty"] > r["quantity"]:
            self._f("leaves_le_quantity", f"leavesQty {r['leavesQty']} > quantity {r['quantity']}", r, "leavesQty")
        key = hash((r.get("orderKeyDate"), self.imid, r.get("symbol"), r.get("orderID")))
        if et == "MENO" or (et == "MEOM" and "priorOrderID" in r):
            if key in self.keys:
                self._f("order_key_unique", "order key already used", r, "orderID")
            if et == "MEOM":
                prior = hash((r.get("priorOrderKeyDate"), self.imid, r.get("symbol"), r.get("priorOrderID")))
                self._link(prior, r, ts)
            self.keys[key] = [ts or 0, r.get("quantity", 0)]
        elif et in ("MEOR", "MEMR", "MECR", "MEOC", "MENOS", "MEOM"):
            self._link(key, r, ts)
            st = self.keys.get(key)
            if st is not None and et == "MEOC" and r.get("leavesQty", 0) > st[1]:
                self._f("leaves_le_quantity", "leavesQty exceeds the order's quantity", r, "leavesQty")
            if st is not None and et == "MEOM":
                st[1] = r.get("quantity", st[1])
        if et in ("MEOR", "MEMR") and not r.get("dupROIDCond") and ts is not None:
            rk = hash((et_date_int(ts), r.get("senderIMID"), r.get("destination"), r.get("symbol"),
                       r.get("session"), r.get("routedOrderID")))
            if rk in self.routes:
                self._f("route_linkage_unique", "route linkage key repeats an earlier route", r, "routedOrderID")
            self.routes.add(rk)

    def _link(self, key: int, r: dict[str, Any], ts: int | None) -> None:
        st = self.keys.get(key)
        if st is None:  # records may come in any order: resolve at the end
            self.refs.append((key, str(r.get("firmROEID", "")), str(r.get("type", "")), ts or 0))
            return
        if ts is not None:
            if ts < st[0]:
                self._f("timestamps_in_order", "eventTimestamp before the order's previous event", r, "eventTimestamp")
            else:
                st[0] = ts

    def finish(self) -> list[Finding]:
        for key, roe, et, _ts in self.refs:
            if key not in self.keys:
                self.findings.append(Finding("links_to_order", "no MENO (or modified order) with this order key",
                                             roe, et, "orderID"))
        self.refs.clear()
        return self.findings


def cross_check(records: list[dict[str, Any]], imid: str, now_ns: int) -> list[Finding]:
    c = CrossRecordChecker(imid, now_ns)
    for r in records:
        c.add(r)
    return c.finish()
