"""One enum of reason codes for every reject or refusal the core or the bridge can emit.

Names are `CATEGORY_CONDITION`; the numeric value travels in the drop-copy record (`reason`), the name in
control replies (`code`). `docs/reason_codes.md` is generated from this table by `render_markdown()` and a
test keeps the two in step: edit here, then run `python -m core_bridge.reasons > docs/reason_codes.md`.
"""

from __future__ import annotations

import enum


class ReasonCode(enum.IntEnum):
    OK = 0
    # Message-level (control and rewind frames)
    MSG_MALFORMED = 100
    MSG_VERSION_UNSUPPORTED = 101
    MSG_EXPIRED = 102
    MSG_UNKNOWN_COMMAND = 103
    MSG_ARGS_INVALID = 104
    # Authorisation
    AUTH_ROLE_DENIED = 200
    AUTH_UNKNOWN_KEY = 201
    # Kill switch
    KILL_HALTED = 300
    KILL_CANCEL_ONLY = 301
    KILL_REDUCE_ONLY = 302
    KILL_STATE_UNKNOWN = 303
    # 15c3-5(c)(1) credit, capital and erroneous-order controls
    LIMIT_MAX_QTY = 400
    LIMIT_MAX_NOTIONAL = 401
    LIMIT_PRICE_COLLAR = 402
    LIMIT_NO_REFERENCE_PRICE = 403
    LIMIT_DUPLICATE_ORDER = 404
    LIMIT_ORDER_RATE = 405
    LIMIT_CREDIT_THRESHOLD = 406
    LIMIT_GROSS_EXPOSURE = 407
    LIMIT_NET_EXPOSURE = 408
    LIMIT_POLICY_EXCEEDED = 409
    LIMIT_APPROVAL_INVALID = 410
    # Buying power
    BP_INSUFFICIENT = 500
    BP_UNKNOWN = 501
    # Reg SHO
    LOCATE_UNAVAILABLE = 600
    LOCATE_UNKNOWN = 601
    LOCATE_PREBORROW_REQUIRED = 602
    # 15c3-5(c)(2) regulatory
    RESTRICTED_SYMBOL = 700
    RESTRICTED_ACCOUNT_UNKNOWN = 701
    HALT_SYMBOL_HALTED = 710
    HALT_LULD_PAUSE = 711
    HALT_MWCB = 712
    # Order state
    ORDER_UNKNOWN = 800
    ORDER_NOT_WORKING = 801
    ORDER_INVALID = 802
    # Venue
    VENUE_REJECTED = 900
    VENUE_UNAVAILABLE = 901
    VENUE_CANCELLED = 902
    # Cancel causes (on ORDER_CANCELLED)
    CANCEL_FIRM = 1000
    CANCEL_CANCEL_ALL = 1001
    CANCEL_EXPIRED = 1002
    # High availability
    HA_NOT_ACTIVE = 1100
    HA_SPLIT_BRAIN = 1101
    HA_FENCED = 1102
    # Rewind
    REWIND_OUT_OF_RANGE = 1200
    REWIND_EPOCH_UNKNOWN = 1201

    @property
    def category(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[ReasonCode, str] = {
    ReasonCode.OK: "Accepted.",
    ReasonCode.MSG_MALFORMED: "The frame is not a valid request (not JSON, a field missing or of the wrong type).",
    ReasonCode.MSG_VERSION_UNSUPPORTED: "The request's protocol version is not one the core speaks.",
    ReasonCode.MSG_EXPIRED: "The request arrived after its `expires_ns`; nothing was applied.",
    ReasonCode.MSG_UNKNOWN_COMMAND: "The command name is not in the command set.",
    ReasonCode.MSG_ARGS_INVALID: "The command's arguments are missing or out of range.",
    ReasonCode.AUTH_ROLE_DENIED: "The client's key has a role below what the command needs.",
    ReasonCode.AUTH_UNKNOWN_KEY: "The client's CURVE key is not in the core's key list (no reply is ever sent).",
    ReasonCode.KILL_HALTED: "The effective kill level for the order is HALTED.",
    ReasonCode.KILL_CANCEL_ONLY: "The effective kill level is CANCEL_ONLY: no new orders or replaces.",
    ReasonCode.KILL_REDUCE_ONLY: "The effective kill level is REDUCE_ONLY and the order would increase exposure.",
    ReasonCode.KILL_STATE_UNKNOWN: "The core started without a readable kill state and came up HALTED.",
    ReasonCode.LIMIT_MAX_QTY: "Order quantity above the per-order maximum (15c3-5(c)(1)(ii)).",
    ReasonCode.LIMIT_MAX_NOTIONAL: "Order notional above the per-order maximum (15c3-5(c)(1)(ii)).",
    ReasonCode.LIMIT_PRICE_COLLAR: "Limit price outside the collar around the reference price; also on replace.",
    ReasonCode.LIMIT_NO_REFERENCE_PRICE: "No reference price for the symbol, so the collar cannot be checked.",
    ReasonCode.LIMIT_DUPLICATE_ORDER: "Same account, symbol, side, quantity and price inside the duplicate window.",
    ReasonCode.LIMIT_ORDER_RATE: "Orders per second for the account above the rate limit.",
    ReasonCode.LIMIT_CREDIT_THRESHOLD: "Open plus new notional above the account's credit/capital threshold.",
    ReasonCode.LIMIT_GROSS_EXPOSURE: "Gross exposure after the order above the cap.",
    ReasonCode.LIMIT_NET_EXPOSURE: "Net exposure after the order above the cap.",
    ReasonCode.LIMIT_POLICY_EXCEEDED: "A limit change is outside what policy lets an operator set.",
    ReasonCode.LIMIT_APPROVAL_INVALID: "A limit change's four-eyes approval record does not verify or does not match.",
    ReasonCode.BP_INSUFFICIENT: "Order notional above the account's available buying power.",
    ReasonCode.BP_UNKNOWN: "No buying power has been pushed for the account (fail closed).",
    ReasonCode.LOCATE_UNAVAILABLE: "Short sale without enough located shares (Reg SHO 203(b)(1)).",
    ReasonCode.LOCATE_UNKNOWN: "No locate list has been pushed today (fail closed).",
    ReasonCode.LOCATE_PREBORROW_REQUIRED: "The symbol is in the Rule 204(b) penalty box: a short sale needs "
                                          "pre-borrowed shares, and not enough are left.",
    ReasonCode.RESTRICTED_SYMBOL: "The symbol is on the restricted list (15c3-5(c)(2)(ii)).",
    ReasonCode.RESTRICTED_ACCOUNT_UNKNOWN: "The account is not one the core knows.",
    ReasonCode.HALT_SYMBOL_HALTED: "The symbol is halted (regulatory or news halt).",
    ReasonCode.HALT_LULD_PAUSE: "The symbol is in a LULD trading pause.",
    ReasonCode.HALT_MWCB: "A market-wide circuit breaker halt is in force.",
    ReasonCode.ORDER_UNKNOWN: "Replace or cancel of an order id the core does not know.",
    ReasonCode.ORDER_NOT_WORKING: "Replace or cancel of an order that is already filled, cancelled or expired.",
    ReasonCode.ORDER_INVALID: "Order fields are invalid (zero quantity, bad side, price on a market order, ...).",
    ReasonCode.VENUE_REJECTED: "The venue rejected the order, replace or cancel.",
    ReasonCode.VENUE_UNAVAILABLE: "The venue session is down.",
    ReasonCode.VENUE_CANCELLED: "The venue cancelled the order on its own (unsolicited cancel).",
    ReasonCode.CANCEL_FIRM: "Cancelled at the firm's request.",
    ReasonCode.CANCEL_CANCEL_ALL: "Cancelled by an operator's cancel_all.",
    ReasonCode.CANCEL_EXPIRED: "Time in force ran out (not a CAT cancel event).",
    ReasonCode.HA_NOT_ACTIVE: "This node is passive; send the command to the active node.",
    ReasonCode.HA_SPLIT_BRAIN: "Refused: the peer is already active (two actives is a fatal error).",
    ReasonCode.HA_FENCED: "This node was fenced by a takeover and stays passive until failed back by hand.",
    ReasonCode.REWIND_OUT_OF_RANGE: "The requested sequence range is not in the core's journal.",
    ReasonCode.REWIND_EPOCH_UNKNOWN: "The requested epoch is not in the core's journal.",
}


def code_for(name: str) -> ReasonCode:
    """Look a reply's `code` up; unknown names map to MSG_MALFORMED rather than raising."""
    try:
        return ReasonCode[name]
    except KeyError:
        return ReasonCode.MSG_MALFORMED


def render_markdown() -> str:
    lines = [
        "# Reason codes",
        "",
        "Generated from `core_bridge/reasons.py` by `python -m core_bridge.reasons`; a test keeps it in step.",
        "",
        "| code | name | category | meaning |",
        "|---:|---|---|---|",
    ]
    for rc in ReasonCode:
        lines.append(f"| {rc.value} | `{rc.name}` | {rc.category} | {rc.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
