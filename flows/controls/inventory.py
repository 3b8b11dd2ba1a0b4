"""The firm's 15c3-5 control inventory: one table naming each control, the reason codes it rejects with,
where it is enforced, its parameters, and the code and test that prove it.

The daily controls report groups rejects by this table and the annual review pack prints it; the
control-verification run (flows/controls/verification.py) has one boundary case per control, and a test keeps
the two in step. Paths are relative to the repository root.
"""

from __future__ import annotations

from dataclasses import dataclass

from core_bridge.reasons import ReasonCode

GATE = "trading core pre-trade risk gate (hw/twin/risk.py in the twin)"


@dataclass(frozen=True)
class Control:
    name: str
    rule: str  # the 15c3-5 paragraph it answers
    codes: tuple[ReasonCode, ...]
    enforced: str
    parameters: tuple[str, ...]  # limit keys (infra/limits.toml) or the pushed list it reads
    code: str
    test: str


CONTROLS: tuple[Control, ...] = (
    Control("collar", "(c)(1)(ii) erroneous price",
            (ReasonCode.LIMIT_PRICE_COLLAR, ReasonCode.LIMIT_NO_REFERENCE_PRICE), GATE, ("price_collar_pct",),
            "hw/twin/risk.py:_price_reason",
            "tests/integration/test_control_verification.py"),
    Control("size", "(c)(1)(ii) erroneous size", (ReasonCode.LIMIT_MAX_QTY,), GATE, ("max_order_qty",),
            "hw/twin/risk.py:_common", "tests/integration/test_control_verification.py"),
    Control("notional", "(c)(1)(ii) erroneous size", (ReasonCode.LIMIT_MAX_NOTIONAL,), GATE,
            ("max_order_notional",), "hw/twin/risk.py:_common", "tests/integration/test_control_verification.py"),
    Control("duplicate", "(c)(1)(ii) duplicative orders", (ReasonCode.LIMIT_DUPLICATE_ORDER,), GATE,
            ("duplicate_window_ms",), "hw/twin/risk.py:_common", "tests/integration/test_control_verification.py"),
    Control("rate", "(c)(1)(ii) duplicative orders (rate)", (ReasonCode.LIMIT_ORDER_RATE,), GATE,
            ("max_orders_per_sec",), "hw/twin/risk.py:_common", "tests/integration/test_control_verification.py"),
    Control("credit/capital", "(c)(1)(i) credit and capital thresholds",
            (ReasonCode.LIMIT_CREDIT_THRESHOLD, ReasonCode.BP_INSUFFICIENT, ReasonCode.BP_UNKNOWN), GATE,
            ("credit_threshold", "buying power (bp-refresh)"), "hw/twin/risk.py:_common",
            "tests/integration/test_control_verification.py"),
    Control("gross/net", "(c)(1)(i) exposure thresholds",
            (ReasonCode.LIMIT_GROSS_EXPOSURE, ReasonCode.LIMIT_NET_EXPOSURE), GATE,
            ("gross_exposure_cap", "net_exposure_cap"), "hw/twin/risk.py:_exposure_reason",
            "tests/integration/test_control_verification.py"),
    Control("restricted", "(c)(2)(ii) restricted securities",
            (ReasonCode.RESTRICTED_SYMBOL, ReasonCode.RESTRICTED_ACCOUNT_UNKNOWN), GATE,
            ("restricted list (sod-load)",), "hw/twin/risk.py:_common",
            "tests/integration/test_control_verification.py"),
    Control("halt/LULD/MWCB", "(c)(2)(i) regulatory requirements on an order basis",
            (ReasonCode.HALT_SYMBOL_HALTED, ReasonCode.HALT_LULD_PAUSE, ReasonCode.HALT_MWCB), GATE,
            ("halts and MWCB level (set_halts)",), "hw/twin/risk.py:_halt_reason",
            "tests/integration/test_control_verification.py"),
    Control("locate", "(c)(2)(i) Reg SHO 203(b)(1) locate",
            (ReasonCode.LOCATE_UNAVAILABLE, ReasonCode.LOCATE_UNKNOWN, ReasonCode.LOCATE_PREBORROW_REQUIRED), GATE,
            ("locates (locates flow)", "pre-borrow penalty box (regsho-closeout)"),
            "hw/twin/risk.py:_common", "tests/integration/test_control_verification.py"),
    Control("kill", "(c)(1) and (b) direct and exclusive control (kill switch)",
            (ReasonCode.KILL_HALTED, ReasonCode.KILL_CANCEL_ONLY, ReasonCode.KILL_REDUCE_ONLY,
             ReasonCode.KILL_STATE_UNKNOWN), GATE + "; set by corectl kill and riskwatch",
            ("kill level per firm/account/symbol/venue",), "hw/twin/risk.py:effective_level",
            "tests/integration/test_control_verification.py"),
)

CONTROL_OF: dict[int, str] = {int(rc): c.name for c in CONTROLS for rc in c.codes}
OTHER = "other"  # reject reasons outside the 15c3-5 controls (invalid order fields, venue)


def control_of(reason: int) -> str:
    """The control a reject reason belongs to, OTHER when it is none of them."""
    return CONTROL_OF.get(int(reason), OTHER)
