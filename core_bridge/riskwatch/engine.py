"""Rule evaluation: readings -> confirmation -> cool-down -> `Trip` decisions. Pure: no sockets, no clock.

Why each guard exists:
- **Confirmation.** A rule trips only after `confirm_readings` consecutive breaching readings, or breaching
  readings spanning `confirm_window_s`; a reading that does not breach starts over. One bad tick never trips.
- **Stale readings are not used.** A reading of None (a stale or missing mark, an unseeded book) neither
  confirms nor breaks a streak, so a stale mark can never be the reading that trips.
- **A gap breaks the streak.** Readings further apart than `max_gap_s` (the telemetry age the fail-safe
  allows) are not consecutive: after a gap the streak restarts with the new reading.
- **Cool-down.** After a trip the same rule and key do not trip again for `cooldown_s`.
- **No automatic resume.** A trip only ever sets a tightening level (rules.ACTIONS); nothing here lowers one.
- **Fail-safe.** `failsafe_state` says when telemetry is stale beyond `telemetry_max_age_s`; a rule on
  `heartbeat_age` is how the file asks for REDUCE_ONLY (or more) in that case.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core_bridge.protocol import KillLevel, KillScope
from core_bridge.riskwatch.rules import Rule, RuleSet

MAX_KEPT_READINGS = 20  # readings a trip carries as evidence (the last ones)

# reading(metric, scope, key, now_s, reason) -> value, or None when there is no usable reading
ReadingFn = Callable[[str, KillScope, "str | None", float, "str | None"], "Decimal | None"]
KeysFn = Callable[[KillScope, float], list[str]]


@dataclass(frozen=True)
class Reading:
    at_s: float
    value: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "value": format(self.value, "f")}


@dataclass(frozen=True)
class Trip:
    """One decision: set `level` on (scope, key), and cancel-all there if the rule says so."""

    rule: Rule
    key: str | None  # the key that breached (None: firm)
    readings: tuple[Reading, ...]
    at_s: float
    seq: int  # this rule and key's trip count, for the idempotency key

    @property
    def scope(self) -> KillScope:
        return self.rule.scope

    @property
    def level(self) -> KillLevel:
        return self.rule.level

    @property
    def where(self) -> str:
        return "firm" if self.key is None else f"{self.scope.value} {self.key}"

    def reason(self) -> str:
        """The audit reason: rule, the readings that confirmed it, scope and consequence."""
        r = self.rule
        values = ", ".join(format(x.value, "f") for x in self.readings[-10:])
        what = f"{r.metric}{' ' + r.reason if r.reason else ''} {r.comparison} {r.threshold}"
        then = ("FLATTEN (HALTED, cancel-all, flatten to zero)" if r.flatten
                else f"{r.level.name}{' + cancel-all' if r.cancel_all else ''}")
        return (f"riskwatch rule {r.name}: {what} on {self.where}, confirmed by {r.confirmation} [{values}]"
                f" -> {then} on {self.where}; no automatic resume (a human resumes)")

    def idempotency_key(self) -> str:
        return f"riskwatch:{self.rule.name}:{self.key or 'firm'}:{self.seq}:{int(self.at_s * 1000)}"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule.name, "metric": self.rule.metric, "scope": self.scope.value, "key": self.key,
                "level": self.level.name, "action": self.rule.action, "cancel_all": self.rule.cancel_all,
                "threshold": str(self.rule.threshold), "comparison": self.rule.comparison,
                "confirmation": self.rule.confirmation, "readings": [x.to_json() for x in self.readings],
                "at_s": round(self.at_s, 3), "reason": self.reason()}


@dataclass
class KeyState:
    streak: deque[Reading] = field(default_factory=lambda: deque(maxlen=MAX_KEPT_READINGS))
    streak_len: int = 0
    since_s: float | None = None  # first breaching reading of the streak
    last_used_s: float | None = None
    last_value: Decimal | None = None
    skipped: int = 0  # readings not used (stale)
    trips: int = 0
    last_trip_s: float | None = None

    def reset(self) -> None:
        self.streak.clear()
        self.streak_len = 0
        self.since_s = None


class Engine:
    """State per (rule name, key); `evaluate` runs every rule once, `observe` is one reading of one key."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.states: dict[tuple[str, str | None], KeyState] = {}

    @property
    def max_gap_s(self) -> float:
        return self.rules.setting("telemetry_max_age_s")

    def load(self, rules: RuleSet) -> None:
        """New rules in force: a rule whose definition is unchanged keeps its streak and cool-down."""
        keep = {r.name for r in rules.rules if r in self.rules.rules}
        self.states = {k: v for k, v in self.states.items() if k[0] in keep}
        self.rules = rules

    def evaluate(self, reading: ReadingFn, keys: KeysFn, now_s: float) -> list[Trip]:
        trips: list[Trip] = []
        for rule in self.rules.rules:
            targets: list[str | None] = ([None] if rule.scope is KillScope.FIRM
                                         else list(keys(rule.scope, now_s)) if rule.key == "*" else [rule.key])
            for key in targets:
                trip = self.observe(rule, key, reading(rule.metric, rule.scope, key, now_s, rule.reason), now_s)
                if trip is not None:
                    trips.append(trip)
        return trips

    def observe(self, rule: Rule, key: str | None, value: Decimal | None, now_s: float) -> Trip | None:
        st = self.states.setdefault((rule.name, key), KeyState())
        if value is None:  # stale or missing: not used, neither confirms nor breaks the streak
            st.skipped += 1
            return None
        gap = st.last_used_s is not None and now_s - st.last_used_s > self.max_gap_s
        st.last_used_s, st.last_value = now_s, value
        if not rule.breached(value):
            st.reset()
            return None
        if gap:  # readings across a telemetry gap are not consecutive
            st.reset()
        st.streak.append(Reading(now_s, value))
        st.streak_len += 1
        if st.since_s is None:
            st.since_s = now_s
        if rule.confirm_readings is not None:
            confirmed = st.streak_len >= rule.confirm_readings
        else:
            assert rule.confirm_window_s is not None
            confirmed = st.streak_len >= 2 and now_s - st.since_s >= rule.confirm_window_s
        if not confirmed:
            return None
        if st.last_trip_s is not None and now_s - st.last_trip_s < rule.cooldown_s:
            return None  # cooling down: the breach goes on, the level set by the last trip stays
        st.trips += 1
        st.last_trip_s = now_s
        trip = Trip(rule, key, tuple(st.streak), now_s, st.trips)
        st.reset()
        return trip

    def rule_states(self, now_s: float) -> list[dict[str, Any]]:
        """Per rule and key: armed, confirming (k/N or seconds of the window), cooling_down or tripped."""
        out: list[dict[str, Any]] = []
        by_name = {r.name: r for r in self.rules.rules}
        for rule in self.rules.rules:
            keys = sorted((k for (n, k) in self.states if n == rule.name), key=lambda k: k or "")
            for key in keys or [None if rule.scope is KillScope.FIRM else rule.key]:
                st = self.states.get((rule.name, key), KeyState())
                out.append({"rule": rule.name, "key": key, **_state_of(by_name[rule.name], st, now_s)})
        return out

    @staticmethod
    def failsafe_state(heartbeat_age_s: Decimal | float, telemetry_max_age_s: float) -> str:
        """"ok", or "telemetry_stale" when no heartbeat came for longer than the fail-safe allows."""
        return "telemetry_stale" if float(heartbeat_age_s) > telemetry_max_age_s else "ok"


def _state_of(rule: Rule, st: KeyState, now_s: float) -> dict[str, Any]:
    doc: dict[str, Any] = {"trips": st.trips, "skipped": st.skipped,
                           "last_value": None if st.last_value is None else format(st.last_value, "f")}
    cooling = st.last_trip_s is not None and now_s - st.last_trip_s < rule.cooldown_s
    if st.streak_len:
        doc["state"] = "confirming"
        if rule.confirm_readings is not None:
            doc["confirming"] = f"{st.streak_len}/{rule.confirm_readings}"
        else:
            doc["confirming"] = f"{now_s - (st.since_s or now_s):.1f}/{rule.confirm_window_s:g} s"
    elif cooling:
        doc["state"] = "cooling_down"
    else:
        doc["state"] = "tripped" if st.trips else "armed"
    if cooling:
        assert st.last_trip_s is not None
        doc["cooldown_left_s"] = round(rule.cooldown_s - (now_s - st.last_trip_s), 1)
    return doc
