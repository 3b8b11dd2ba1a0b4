"""Drop-copy events -> CAT order events. Pure: (events, accounts, config) in, records out.

What is reported (cat.md §1, cat_scenarios.md), per core event:

    ORDER_NEW                   MENO (+ MENOS with the real FDID when the account's FDID was PENDING)
    ORDER_ROUTED                MEOR to the exchange; MEMR instead when the order replaced a routed order
    ORDER_REPLACED              MEOM (new orderID, priorOrderID = old) + MEMR when the replace went to the venue
    ORDER_CANCELLED firm/c-all  MECR (at the cancel request time, if routed) + MEOC (initiator F)
    ROUTE_REJECTED              sets routeRejectedFlag on the pending MEOR/MEMR, or a rejected MECR; a
                                venue-rejected replace drops its MEOM (the order's terms never changed)
    ORDER_REJECTED (risk gate)  policy RISK_REJECT_POLICY: MENO + MEOC, never a route
    ORDER_FILLED                nothing (exchange fills are the exchange's to report, FAQ E15); feeds leavesQty
    ORDER_EXPIRED, cancel for expiry, venue-initiated cancel, REPLACE_REJECTED, ORDER_ACKED: nothing

A route's outcome (accepted or rejected) arrives after the route, so the MEOR/MEMR is held until the next
event of that order (ack, reject, fill, cancel ...) or the end of the day, then emitted with its own
eventTimestamp. Records are yielded in a deterministic order (journal order), which keeps every order's
records in time order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EventFlag, EventType, TimeInForce
from core_bridge.reasons import ReasonCode
from hw.refdata import Account
from reports.cat.config import (
    ACCOUNT_HOLDER_TYPE,
    DEPT_TYPE,
    DESTINATIONS,
    FDID_PENDING,
    ORDER_TYPES,
    REPRESENTATIVE_IND,
    SIDE_CODES,
    TRADING_SESSION,
    CatConfig,
    tif_object,
)
from reports.cat.encode import et_date_int, firm_roe_id, price_literal
from reports.errors import CatBuildError

Record = dict[str, Any]
FIRM_CANCEL_REASONS = frozenset({int(ReasonCode.CANCEL_FIRM), int(ReasonCode.CANCEL_CANCEL_ALL)})


@dataclass
class _Order:
    order_id: str
    key_date: int
    symbol: str
    account: str
    side: str
    ord_type: int
    tif: int
    price: int
    qty: int
    iso: bool
    cum: int = 0
    routed_id: str = ""
    session: str = ""
    destination: str = ""
    routed_from_replace: bool = False  # replaced a routed order: the next route is a MEMR
    prior_routed_id: str = ""
    cancel_req_ts: int = 0
    prior: _Order | None = None

    @property
    def leaves(self) -> int:
        return max(self.qty - self.cum, 0)


@dataclass
class _Pending:
    """Records held until the route's outcome is known."""

    records: list[Record] = field(default_factory=list)
    route: Record | None = None
    modify: Record | None = None  # MEOM that a venue reject of the replace withdraws
    order: _Order | None = None


class _Builder:
    def __init__(self, accounts: Mapping[str, Account], config: CatConfig) -> None:
        self.accounts = accounts
        self.cfg = config
        self.orders: dict[int, _Order] = {}
        self.pending: dict[int, _Pending] = {}

    # --- record makers (fields in FINRA schema order) ------------------------------------------------------
    def _base(self, etype: str, roe: str, o: _Order, ts: int) -> Record:
        return {"actionType": "NEW", "firmROEID": roe, "type": etype, "CATReporterIMID": self.cfg.imid,
                "orderKeyDate": o.key_date, "orderID": o.order_id, "symbol": o.symbol}

    def _terms(self, r: Record, o: _Order, ts: int) -> None:
        r["side"] = o.side
        if ORDER_TYPES[o.ord_type] == "LMT":
            r["price"] = price_literal(o.price)
        r["quantity"] = o.qty

    def meno(self, roe: str, o: _Order, ts: int, fdid: str) -> Record:
        r = self._base("MENO", roe, o, ts)
        r.update(eventTimestamp=ts, manualFlag=False, electronicDupFlag=False, deptType=DEPT_TYPE,
                 solicitationFlag=False)
        self._terms(r, o, ts)
        r.update(orderType=ORDER_TYPES[o.ord_type], timeInForce=tif_object(o.tif, et_date_int(ts)),
                 tradingSession=TRADING_SESSION, custDspIntrFlag=False, firmDesignatedID=fdid,
                 accountHolderType=ACCOUNT_HOLDER_TYPE, affiliateFlag=False, negotiatedTradeFlag=False,
                 representativeInd=REPRESENTATIVE_IND)
        return r

    def menos(self, roe: str, o: _Order, ts: int, fdid: str) -> Record:
        r = self._base("MENOS", roe, o, ts)
        r.update(eventTimestamp=ts, firmDesignatedID=fdid)
        return r

    def _iso(self, o: _Order) -> str:
        if not o.iso:
            return "NA"
        return "ISOI" if o.tif == TimeInForce.IOC else "ISOD"

    def route(self, etype: str, roe: str, o: _Order, ts: int, prior_routed_id: str = "") -> Record:
        r = self._base(etype, roe, o, ts)
        r["eventTimestamp"] = ts
        r["manualFlag"] = False
        if etype == "MEOR":
            r["electronicDupFlag"] = False
        r.update(senderIMID=self.cfg.sender_imid, destination=o.destination, destinationType="E",
                 routedOrderID=o.routed_id)
        dup = False
        if etype == "MEMR":
            if prior_routed_id and prior_routed_id != o.routed_id:
                r["priorRoutedOrderID"] = prior_routed_id
            else:
                dup = True  # the venue kept the routed id (dupROIDCond, cat_scenarios.md §1)
        if o.session:
            r["session"] = o.session
        self._terms(r, o, ts)
        r.update(orderType=ORDER_TYPES[o.ord_type], timeInForce=tif_object(o.tif, et_date_int(ts)),
                 tradingSession=TRADING_SESSION, affiliateFlag=False, isoInd=self._iso(o),
                 routeRejectedFlag=False, dupROIDCond=dup, multiLegInd=False)
        if etype == "MEMR":  # MEMR's schema places multiLegInd last, after netPrice; keep order stable
            r["multiLegInd"] = r.pop("multiLegInd")
        return r

    def meom(self, roe: str, o: _Order, prior: _Order, ts: int) -> Record:
        r = self._base("MEOM", roe, o, ts)
        if prior.order_id != o.order_id:
            r.update(priorOrderKeyDate=prior.key_date, priorOrderID=prior.order_id)
        r.update(eventTimestamp=ts, manualFlag=False, electronicDupFlag=False, initiator="F")
        self._terms(r, o, ts)
        r["leavesQty"] = o.leaves
        r.update(orderType=ORDER_TYPES[o.ord_type], timeInForce=tif_object(o.tif, et_date_int(ts)),
                 tradingSession=TRADING_SESSION, isoInd=self._iso(o), custDspIntrFlag=False,
                 representativeInd=REPRESENTATIVE_IND)
        return r

    def meoc(self, roe: str, o: _Order, ts: int, cancel_qty: int) -> Record:
        r = self._base("MEOC", roe, o, ts)
        r.update(eventTimestamp=ts, manualFlag=False, cancelQty=cancel_qty, leavesQty=0, initiator="F")
        return r

    def mecr(self, roe: str, o: _Order, ts: int, cancel_qty: int, rejected: bool) -> Record:
        r = self._base("MECR", roe, o, ts)
        r.update(eventTimestamp=ts, manualFlag=False, cancelQty=cancel_qty, senderIMID=self.cfg.sender_imid,
                 destination=o.destination, destinationType="E", routedOrderID=o.routed_id)
        if o.session:
            r["session"] = o.session
        r.update(routeRejectedFlag=rejected, multiLegInd=False)
        return r

    # --- pending routes -----------------------------------------------------------------------------------
    def flush(self, oid: int, rejected: bool = False) -> list[Record]:
        p = self.pending.pop(oid, None)
        if p is None:
            return []
        if rejected and p.route is not None:
            p.route["routeRejectedFlag"] = True
            if p.modify is not None and p.order is not None and p.order.prior is not None:
                # the venue refused the replace: the firm's order kept its old terms and id
                old = p.order.prior
                p.records.remove(p.modify)
                p.route.update(orderKeyDate=old.key_date, orderID=old.order_id)
                self.orders[oid] = old
                self.orders[_int_id(old.order_id)] = old
        return p.records

    def flush_all(self) -> list[Record]:
        out: list[Record] = []
        for oid in list(self.pending):
            out += self.flush(oid)
        return out

    # --- the pass -----------------------------------------------------------------------------------------
    def build(self, events: np.ndarray) -> Iterator[Record]:
        if events.dtype != EVENT_DTYPE:
            raise TypeError(f"events must have EVENT_DTYPE, got {events.dtype}")
        cols = {n: events[n].tolist() for n in ("seq", "ts_ns", "epoch", "etype", "side", "venue", "flags",
                                                  "reason", "ord_type", "tif", "account", "symbol", "session",
                                                  "qty", "last_qty", "price", "order_id", "orig_order_id",
                                                  "routed_id")}
        fdids = {a: (acc.fdid, acc.fdid_pending) for a, acc in self.accounts.items()}
        for i, etype in enumerate(cols["etype"]):
            seq, ts, epoch, oid = cols["seq"][i], cols["ts_ns"][i], cols["epoch"][i], cols["order_id"][i]
            if etype == EventType.ORDER_NEW or etype == EventType.ORDER_REJECTED:
                acct = cols["account"][i].decode()
                if acct not in fdids:
                    raise CatBuildError(f"unknown account {acct!r}", seq=seq, epoch=epoch)
                if etype == EventType.ORDER_REJECTED and self.cfg.risk_reject_policy == "none":
                    continue
                o = _Order(str(oid) if oid else f"R{epoch}.{seq}", ts, cols["symbol"][i].decode(), acct,
                           _side(cols["side"][i], seq, epoch), cols["ord_type"][i], cols["tif"][i],
                           cols["price"][i], cols["qty"][i], bool(cols["flags"][i] & EventFlag.ISO))
                _check_order(o, seq, epoch)
                fdid, pending_fdid = fdids[acct]
                yield self.meno(firm_roe_id(ts, epoch, seq, 0), o, ts, FDID_PENDING if pending_fdid else fdid)
                if pending_fdid:
                    yield self.menos(firm_roe_id(ts, epoch, seq, 1), o, ts, fdid)
                if etype == EventType.ORDER_REJECTED:
                    yield self.meoc(firm_roe_id(ts, epoch, seq, 2), o, ts, o.qty)
                else:
                    self.orders[oid] = o
                continue
            if etype not in _ORDER_EVENTS:
                continue
            o = self.orders.get(oid)  # type: ignore[assignment]
            if o is None:
                if etype in (EventType.ORDER_ROUTED, EventType.ORDER_REPLACED, EventType.ORDER_CANCELLED):
                    if etype == EventType.ORDER_REPLACED and cols["orig_order_id"][i] in self.orders:
                        pass
                    else:
                        raise CatBuildError(f"{EventType(etype).name} for unknown order {oid}", seq=seq, epoch=epoch)
                else:
                    continue
            if etype == EventType.ORDER_ROUTED:
                yield from self.flush(oid)
                dest = DESTINATIONS.get(cols["venue"][i])
                if dest is None:
                    raise CatBuildError(f"route to unknown venue {cols['venue'][i]}", seq=seq, epoch=epoch)
                prior_rid = o.routed_id
                o.routed_id, o.session, o.destination = str(cols["routed_id"][i]), cols["session"][i].decode(), dest
                roe = firm_roe_id(ts, epoch, seq, 0)
                if o.routed_from_replace:
                    o.routed_from_replace = False
                    rec = self.route("MEMR", roe, o, ts, o.prior_routed_id or prior_rid)
                else:
                    rec = self.route("MEOR", roe, o, ts)
                self.pending[oid] = _Pending([rec], rec)
            elif etype == EventType.ORDER_ACKED or etype == EventType.ORDER_FILLED:
                yield from self.flush(oid)
                if etype == EventType.ORDER_FILLED:
                    o.cum += cols["last_qty"][i]
            elif etype == EventType.ORDER_REPLACED:
                old = self.orders[cols["orig_order_id"][i]]
                yield from self.flush(cols["orig_order_id"][i])
                new = _Order(str(oid), ts, old.symbol, old.account, _side(cols["side"][i] or 0, seq, epoch, old.side),
                             cols["ord_type"][i] or old.ord_type, cols["tif"][i] or old.tif, cols["price"][i],
                             cols["qty"][i], old.iso, cum=old.cum, routed_id=old.routed_id, session=old.session,
                             destination=old.destination, prior=old)
                _check_order(new, seq, epoch)
                self.orders[oid] = new
                self.orders[cols["orig_order_id"][i]] = new  # late fills on the old id count on the new order
                modify = self.meom(firm_roe_id(ts, epoch, seq, 0), new, old, ts)
                if not old.routed_id:
                    yield modify
                elif cols["routed_id"][i]:
                    new.routed_id = str(cols["routed_id"][i])
                    if cols["session"][i]:
                        new.session = cols["session"][i].decode()
                    rec = self.route("MEMR", firm_roe_id(ts, epoch, seq, 1), new, ts, old.routed_id)
                    self.pending[oid] = _Pending([modify, rec], rec, modify, new)
                else:  # the replace goes out as its own ORDER_ROUTED: that one becomes the MEMR
                    yield modify
                    new.routed_from_replace, new.prior_routed_id = True, old.routed_id
            elif etype == EventType.ROUTE_REJECTED:
                if oid in self.pending:
                    yield from self.flush(oid, rejected=True)
                elif o.cancel_req_ts:
                    yield self.mecr(firm_roe_id(o.cancel_req_ts, epoch, seq, 0), o, o.cancel_req_ts, o.leaves, True)
                    o.cancel_req_ts = 0
            elif etype == EventType.ORDER_CANCEL_REQUESTED:
                yield from self.flush(oid)
                o.cancel_req_ts = ts
            elif etype == EventType.ORDER_CANCELLED:
                yield from self.flush(oid)
                if cols["reason"][i] in FIRM_CANCEL_REASONS:
                    leaves = o.leaves
                    if o.routed_id:
                        t = o.cancel_req_ts or ts
                        yield self.mecr(firm_roe_id(t, epoch, seq, 0), o, t, leaves, False)
                    yield self.meoc(firm_roe_id(ts, epoch, seq, 1), o, ts, leaves)
                o.cancel_req_ts = 0
                self.orders.pop(oid, None)
            elif etype == EventType.ORDER_EXPIRED:
                yield from self.flush(oid)
                self.orders.pop(oid, None)
        yield from self.flush_all()


_ORDER_EVENTS = frozenset({EventType.ORDER_ROUTED, EventType.ORDER_ACKED, EventType.ORDER_REPLACED,
                           EventType.ORDER_CANCEL_REQUESTED, EventType.ORDER_CANCELLED, EventType.ORDER_FILLED,
                           EventType.ROUTE_REJECTED, EventType.ORDER_EXPIRED})


def _int_id(order_id: str) -> int:
    return int(order_id) if order_id.isdigit() else -1


def _side(code: int, seq: int, epoch: int, default: str | None = None) -> str:
    if code == 0 and default is not None:
        return default
    try:
        return SIDE_CODES[code]
    except KeyError:
        raise CatBuildError(f"unknown side code {code}", seq=seq, epoch=epoch) from None


def _check_order(o: _Order, seq: int, epoch: int) -> None:
    if o.ord_type not in ORDER_TYPES:
        raise CatBuildError(f"unknown order type {o.ord_type}", seq=seq, epoch=epoch)
    if o.qty <= 0:
        raise CatBuildError(f"order quantity {o.qty} is not positive", seq=seq, epoch=epoch)


def iter_records(events: np.ndarray, accounts: Mapping[str, Account], config: CatConfig) -> Iterator[Record]:
    """CAT records for a day's drop-copy events, streamed in deterministic order."""
    ep, sq = events["epoch"], events["seq"]
    in_order = (ep[1:] > ep[:-1]) | ((ep[1:] == ep[:-1]) & (sq[1:] > sq[:-1]))
    if not bool(np.all(in_order)):  # journal order, unless already in it
        events = events[np.lexsort((events["seq"], events["epoch"]))]
    yield from _Builder(accounts, config).build(events)


def build_records(events: np.ndarray, accounts: Mapping[str, Account], config: CatConfig) -> list[Record]:
    return list(iter_records(events, accounts, config))
