"""Control verification (15c3-5(e) test evidence): orders designed to hit each control at its boundary — just
inside passes, just outside is rejected with the control's reason code — driven through a core, with
pass/fail per step.

`CASES` is the table: per control, the settings that put the boundary somewhere exact, the orders either
side of it, and the settings that undo it. Each case has its own account/symbol so the cases do not see each
other (the rate case runs first on its account: the rate window is one second of accepted orders). Reference
prices are hw/refdata's (AAPL 230.00, INTC 22.00, AMZN 185.00, MSFT 420.00, TSLA 250.00). `run_cases` takes
any `call(command, args) -> Reply`: the flow points it at a scratch twin (flows/controls/verify_run.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from core_bridge.protocol import Command, Reply

Call = Callable[[Command, dict[str, Any]], Reply]
BIG = "10000000"


@dataclass(frozen=True)
class Step:
    label: str  # "inside" (must pass) | "outside" (must be rejected) | "setup order"
    order: dict[str, Any]
    expect: str  # a ReasonCode name; "OK" to pass


@dataclass(frozen=True)
class Case:
    control: str  # flows/controls/inventory.py name
    boundary: str  # what is exactly at the limit, in words
    setup: tuple[tuple[Command, dict[str, Any]], ...]
    steps: tuple[Step, ...]
    teardown: tuple[tuple[Command, dict[str, Any]], ...] = ()


def _o(account: str, symbol: str, qty: int, price: str, side: str = "BUY") -> dict[str, Any]:
    return {"action": "new", "account": account, "symbol": symbol, "side": side, "qty": qty, "price": price,
            "ord_type": "LIMIT", "tif": "DAY", "venue": "NSDQ"}


def _lim(account: str, **limits: Any) -> tuple[Command, dict[str, Any]]:
    return (Command.SET_LIMITS, {"account": account, "limits": limits, "approver": "control-verification",
                                 "until_ns": None})


CASES: tuple[Case, ...] = (
    Case("rate", "max_orders_per_sec=3: the 3rd order in a second passes, the 4th is rejected",
         (_lim("PROP02", max_orders_per_sec=3),),
         (Step("setup order", _o("PROP02", "CSCO", 10, "54.01"), "OK"),
          Step("setup order", _o("PROP02", "CSCO", 10, "54.02"), "OK"),
          Step("inside", _o("PROP02", "CSCO", 10, "54.03"), "OK"),
          Step("outside", _o("PROP02", "CSCO", 10, "54.04"), "LIMIT_ORDER_RATE")),
         (_lim("PROP02", max_orders_per_sec=2000),
          (Command.CANCEL_ALL, {"scope": "account", "key": "PROP02"}))),
    Case("size", "max_order_qty=1000: 1000 shares pass, 1001 are rejected",
         (_lim("PROP01", max_order_qty=1000),),
         (Step("inside", _o("PROP01", "INTC", 1000, "21.90"), "OK"),
          Step("outside", _o("PROP01", "INTC", 1001, "21.90"), "LIMIT_MAX_QTY")),
         (_lim("PROP01", max_order_qty=10000),)),
    Case("notional", "max_order_notional=22900: 100 x 229.00 passes, 100 x 229.01 is rejected",
         (_lim("PROP01", max_order_notional="22900"),),
         (Step("inside", _o("PROP01", "AAPL", 100, "229.00"), "OK"),
          Step("outside", _o("PROP01", "AAPL", 100, "229.01"), "LIMIT_MAX_NOTIONAL")),
         (_lim("PROP01", max_order_notional="1000000"),)),
    Case("collar", "price_collar_pct=5 around AAPL 230.00: a buy at 218.50 (5.00 %) passes, 218.49 is rejected",
         (),
         (Step("inside", _o("PROP01", "AAPL", 100, "218.50"), "OK"),
          Step("outside", _o("PROP01", "AAPL", 100, "218.49"), "LIMIT_PRICE_COLLAR"))),
    Case("duplicate", "same account, symbol, side, qty and price inside the window is rejected; one share "
         "more passes",
         (),
         (Step("setup order", _o("PROP01", "AMZN", 100, "184.00"), "OK"),
          Step("inside", _o("PROP01", "AMZN", 101, "184.00"), "OK"),
          Step("outside", _o("PROP01", "AMZN", 100, "184.00"), "LIMIT_DUPLICATE_ORDER"))),
    Case("credit/capital", "credit_threshold=22900: open notional 22900 passes, one more share (23129) is rejected",
         (_lim("PROP03", credit_threshold="22900"),),
         (Step("inside", _o("PROP03", "AAPL", 100, "229.00"), "OK"),
          Step("outside", _o("PROP03", "AAPL", 1, "229.00"), "LIMIT_CREDIT_THRESHOLD")),
         (_lim("PROP03", credit_threshold="50000000"),)),
    Case("credit/capital", "buying power 22900: open notional 22900 passes, one more share is rejected",
         ((Command.SET_BP, {"bp": {"PROP02": "22900"}, "as_of_ns": 0}),),
         (Step("inside", _o("PROP02", "AAPL", 100, "229.00"), "OK"),
          Step("outside", _o("PROP02", "AAPL", 1, "229.00"), "BP_INSUFFICIENT")),
         ((Command.SET_BP, {"bp": {"PROP02": BIG}, "as_of_ns": 0}),)),
    Case("gross/net", "gross_exposure_cap=23000: 100 AAPL at ref 230.00 pass, 101 are rejected",
         (_lim("PROP04", gross_exposure_cap="23000"),),
         (Step("inside", _o("PROP04", "AAPL", 100, "229.00"), "OK"),
          Step("outside", _o("PROP04", "AAPL", 1, "229.00"), "LIMIT_GROSS_EXPOSURE")),
         (_lim("PROP04", gross_exposure_cap="100000000"),)),
    Case("gross/net", "net_exposure_cap=42000: 100 MSFT at ref 420.00 pass, 101 are rejected",
         (_lim("PROP04", net_exposure_cap="42000"),),
         (Step("inside", _o("PROP04", "MSFT", 100, "419.00"), "OK"),
          Step("outside", _o("PROP04", "MSFT", 1, "419.00"), "LIMIT_NET_EXPOSURE")),
         (_lim("PROP04", net_exposure_cap="50000000"),)),
    Case("restricted", "JNJ on the restricted list is rejected; XOM, not on it, passes",
         ((Command.SET_RESTRICTED, {"symbols": ["JNJ"]}),),
         (Step("inside", _o("PROP01", "XOM", 100, "114.00"), "OK"),
          Step("outside", _o("PROP01", "JNJ", 100, "159.00"), "RESTRICTED_SYMBOL")),
         ((Command.SET_RESTRICTED, {"symbols": []}),)),
    Case("halt/LULD/MWCB", "JPM halted, WMT in a LULD pause, then MWCB level 1: each rejected; KO open passes",
         ((Command.SET_HALTS, {"halts": {"JPM": "HALTED", "WMT": "LULD_PAUSE"}}),),
         (Step("inside", _o("PROP01", "KO", 100, "64.00"), "OK"),
          Step("outside", _o("PROP01", "JPM", 100, "209.00"), "HALT_SYMBOL_HALTED"),
          Step("outside", _o("PROP01", "WMT", 100, "79.00"), "HALT_LULD_PAUSE")),
         ((Command.SET_HALTS, {"halts": {"JPM": "OPEN", "WMT": "OPEN"}}),)),
    Case("halt/LULD/MWCB", "MWCB level 1 rejects every order; level 0 lets it through",
         ((Command.SET_HALTS, {"mwcb_level": 1}),),
         (Step("outside", _o("PROP01", "KO", 100, "64.01"), "HALT_MWCB"),),
         ((Command.SET_HALTS, {"mwcb_level": 0}),)),
    Case("locate", "100 TSLA located: a short sale of 100 passes, one more share is rejected",
         ((Command.SET_LOCATES, {"date": "2026-01-02", "locates": {"TSLA": 100}}),),
         (Step("inside", _o("PROP01", "TSLA", 100, "251.00", "SHORT"), "OK"),
          Step("outside", _o("PROP01", "TSLA", 1, "251.01", "SHORT"), "LOCATE_UNAVAILABLE"))),
    Case("kill", "PROP03 HALTED: its orders are rejected; PROP01, still ACTIVE, passes",
         ((Command.SET_KILL, {"scope": "account", "key": "PROP03", "level": "HALTED"}),),
         (Step("inside", _o("PROP01", "KO", 100, "63.00"), "OK"),
          Step("outside", _o("PROP03", "KO", 100, "63.01"), "KILL_HALTED")),
         ((Command.SET_KILL, {"scope": "account", "key": "PROP03", "level": "ACTIVE"}),)),
)


@dataclass
class StepResult:
    control: str
    boundary: str
    label: str
    order: dict[str, Any]
    expect: str
    got: str
    passed: bool


@dataclass
class VerificationRun:
    results: list[StepResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a setup the core refused: the case cannot count

    @property
    def passed(self) -> bool:
        return not self.errors and bool(self.results) and all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        by: dict[str, dict[str, int]] = {}
        for r in self.results:
            c = by.setdefault(r.control, {"steps": 0, "passed": 0})
            c["steps"] += 1
            c["passed"] += int(r.passed)
        return {"passed": self.passed, "results": [asdict(r) for r in self.results], "errors": self.errors,
                "by_control": dict(sorted(by.items()))}


def _apply(call: Call, cmd: Command, args: dict[str, Any], run: VerificationRun, control: str) -> None:
    rep = call(cmd, args)
    if not rep.ok:
        run.errors.append(f"{control}: {cmd.value} refused {rep.code}: {rep.message}")


def run_cases(call: Call, cases: tuple[Case, ...] = CASES) -> VerificationRun:
    """Drive every case through `call`; each step's order goes alone, so its reply code is its own."""
    run = VerificationRun()
    clordid = itertools.count(1)
    for case in cases:
        for cmd, args in case.setup:
            _apply(call, cmd, args, run, case.control)
        for step in case.steps:
            order = {**step.order, "clordid": next(clordid)}
            rep = call(Command.SUBMIT_ORDERS, {"orders": [order]})
            got = str(rep.result["results"][0]["code"]) if rep.ok else f"command refused {rep.code}"
            run.results.append(StepResult(case.control, case.boundary, step.label, step.order, step.expect, got,
                                          got == step.expect))
        for cmd, args in case.teardown:
            _apply(call, cmd, args, run, case.control)
    return run
