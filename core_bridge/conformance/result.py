"""What a conformance rule reports, and the decorator that turns a rule body into a timed `RuleResult`.

A rule body is `fn(session, ev) -> summary | None`: it talks to the core and records every observation it
grades as a check (`ev.check(what, ok, **evidence)`), plus notes (`ev.note(...)`) that explain without
grading. The rule fails when any check failed, passes when it recorded at least one check and none failed
(a rule that checked nothing is a failure, never a vacuous pass), and is "n/a" only when the body says why
it does not apply (`ev.na(reason)`). A missing reply the rule needed (`NoReply`) or an unexpected exception
is a failure with the error in the evidence: the suite never stops at one broken rule.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NA = "n/a"


@dataclass(frozen=True)
class RuleResult:
    name: str
    status: Status
    evidence: dict[str, Any]
    seconds: float
    summary: str = ""
    ref: str = ""  # where docs/protocol.md states the rule

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "seconds": round(self.seconds, 3),
                "summary": self.summary, "ref": self.ref, "evidence": self.evidence}


class NotApplicable(Exception):
    """The rule does not apply to this run (the reason says why); reported "n/a", never "pass"."""


class NoReply(Exception):
    """A reply the rule needed did not come before its deadline."""


@dataclass
class Evidence:
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def check(self, what: str, ok: bool, **details: Any) -> bool:
        self.checks.append({"check": what, "ok": bool(ok), **details})
        return bool(ok)

    def note(self, **details: Any) -> None:
        self.notes.update(details)

    def na(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["ok"]]

    def to_json(self) -> dict[str, Any]:
        return {"checks": self.checks, **({"notes": self.notes} if self.notes else {})}


# The session is a core_bridge.conformance.session.Session (typed Any here: that module imports this one).
RuleBody = Callable[[Any, Evidence], "str | None"]
Rule = Callable[[Any], RuleResult]


def rule(name: str, ref: str) -> Callable[[RuleBody], Rule]:
    """Make a rule body into a rule: `rule_fn(session) -> RuleResult` with `.rule_name` and `.ref`."""

    def wrap(body: RuleBody) -> Rule:
        @functools.wraps(body)
        def run(session: Any) -> RuleResult:
            ev = Evidence()
            t0 = time.monotonic()
            summary: str | None = None
            try:
                summary = body(session, ev)
            except NotApplicable as exc:
                return RuleResult(name, Status.NA, {**ev.to_json(), "reason": str(exc)},
                                  time.monotonic() - t0, str(exc), ref)
            except NoReply as exc:
                ev.check(f"the core answered: {exc}", False)
            except Exception as exc:  # a rule must report, not crash the suite
                ev.check("the rule ran to its end", False, error=f"{type(exc).__name__}: {exc}")
            finally:
                session.cleanup()
            seconds = time.monotonic() - t0
            if not ev.checks:
                ev.check("the rule recorded at least one check", False)
            bad = ev.failed
            if bad:
                text = "; ".join(c["check"] for c in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
                return RuleResult(name, Status.FAIL, ev.to_json(), seconds, "FAILED: " + text, ref)
            return RuleResult(name, Status.PASS, ev.to_json(), seconds,
                              summary or f"{len(ev.checks)} checks passed", ref)

        run.rule_name = name  # type: ignore[attr-defined]
        run.ref = ref  # type: ignore[attr-defined]
        return run

    return wrap
