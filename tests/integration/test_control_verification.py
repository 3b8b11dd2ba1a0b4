"""Control verification against the twin, table-driven: every control's boundary (just inside passes, just
outside is rejected with the control's reason code), and a boundary set one off is caught as a failure."""

from __future__ import annotations

from typing import Any

import pytest

from core_bridge.protocol import Command, Reply
from core_bridge.reasons import ReasonCode
from flows.controls.inventory import CONTROLS
from flows.controls.verification import CASES, Case, Step, VerificationRun, run_cases
from hw.twin.launch import TwinHandle

STEPS = [(c.control, i, s) for c in CASES for i, s in enumerate(c.steps)]


def _call(handle: TwinHandle) -> Any:
    def call(cmd: Command, args: dict[str, Any]) -> Reply:
        return handle.call(cmd, args, identity="operator")

    return call


@pytest.fixture(scope="module")
def verification(twin_core_module: TwinHandle) -> VerificationRun:
    return run_cases(_call(twin_core_module))


def test_every_inventory_control_when_listed_then_has_a_boundary_case_both_sides() -> None:
    for c in CONTROLS:
        cases = [k for k in CASES if k.control == c.name]
        outside = {s.expect for k in cases for s in k.steps if s.label == "outside"}
        inside = [s for k in cases for s in k.steps if s.label == "inside"]
        assert cases and inside and all(s.expect == "OK" for s in inside), c.name
        assert outside and outside <= {rc.name for rc in c.codes}, (c.name, outside)


@pytest.mark.parametrize(("control", "index", "step"), STEPS,
                         ids=[f"{c}-{i}-{s.label}-{s.expect}" for c, i, s in STEPS])
def test_verification_step_when_driven_through_the_twin_then_core_answers_as_the_boundary_says(
        verification: VerificationRun, control: str, index: int, step: Step) -> None:
    got = [r for r in verification.results if r.control == control and r.order == step.order and
           r.label == step.label]
    assert len(got) == 1 and got[0].got == step.expect, got
    assert not verification.errors


def test_verification_when_all_steps_pass_then_run_passes_and_counts_per_control(
        verification: VerificationRun) -> None:
    doc = verification.to_dict()
    assert doc["passed"] and set(doc["by_control"]) == {c.name for c in CONTROLS}
    assert sum(v["steps"] for v in doc["by_control"].values()) == len(STEPS)


def test_verification_when_limit_set_one_off_then_the_step_fails(twin_core_module: TwinHandle) -> None:
    # max_order_qty 1001 instead of 1000: the "outside" order of 1001 shares now passes, which must be a FAIL.
    case = next(c for c in CASES if c.control == "size")
    off = Case(case.control, case.boundary, ((Command.SET_LIMITS, {"account": "PROP03", "limits":
                                                                   {"max_order_qty": 1001},
                                                                   "approver": "t", "until_ns": None}),),
               tuple(Step(s.label, {**s.order, "account": "PROP03", "symbol": "NVDA", "price": "129.00"}, s.expect)
                     for s in case.steps),
               ((Command.SET_LIMITS, {"account": "PROP03", "limits": {"max_order_qty": 10000}, "approver": "t",
                                      "until_ns": None}),))
    run = run_cases(_call(twin_core_module), (off,))
    assert [r.got for r in run.results] == ["OK", "OK"] and not run.passed
    assert run.results[1].expect == ReasonCode.LIMIT_MAX_QTY.name
