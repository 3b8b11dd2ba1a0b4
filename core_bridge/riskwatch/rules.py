"""The trip rules (infra/trips.toml): loading, validation, and a reload that keeps the rules in force.

Why this strict: a rule that trips the firm by mistake costs a trading day, one that silently never trips
costs more. So every field is checked and named in the error, unknown fields are refused (a typo must not
turn a rule off), one bad rule refuses the whole file, and `reload_rules` hands back the previous rules with
the error instead of running with half a file. Confirmation is required (at least 2 readings, or a window
of time) so one bad tick can never trip; actions only tighten (there is no automatic resume).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core_bridge.protocol import KillLevel, KillScope, Venue
from core_bridge.reasons import ReasonCode

ALL_SCOPES = (KillScope.FIRM, KillScope.ACCOUNT, KillScope.SYMBOL, KillScope.VENUE)
_BOOK = (KillScope.FIRM, KillScope.ACCOUNT, KillScope.SYMBOL)

# metric -> the scopes it is kept for (what the drop copy and telemetry can attribute it to).
METRIC_SCOPES: dict[str, tuple[KillScope, ...]] = {
    "realized_pnl": _BOOK,  # USD since the watcher started (average cost)
    "unrealized_pnl": _BOOK,  # USD, open positions at the twin's marks
    "pnl": _BOOK,  # realized + unrealized
    "gross_exposure": _BOOK,  # USD, sum |position x mark|
    "net_exposure": _BOOK,  # USD, sum position x mark
    "order_rate": ALL_SCOPES,  # new-order attempts per second (accepted + gate-rejected)
    "reject_rate": ALL_SCOPES,  # rejects per second (gate, replace and venue), optionally of one reason
    "fill_rate": ALL_SCOPES,  # fills per second
    "concentration": (KillScope.FIRM, KillScope.ACCOUNT),  # largest symbol's share of gross exposure, 0..1
    "heartbeat_age": (KillScope.FIRM,),  # seconds since the freshest node's heartbeat
}
MARKED = frozenset({"unrealized_pnl", "pnl", "gross_exposure", "net_exposure", "concentration"})
COMPARISONS = (">", ">=", "<", "<=")
ACTIONS = {lv.name: lv for lv in (KillLevel.REDUCE_ONLY, KillLevel.CANCEL_ONLY, KillLevel.HALTED)}
ACTIONS["FLATTEN"] = KillLevel.HALTED  # HALTED, then the kill-to-flat flow (core_bridge.killflat)
RULE_FIELDS = frozenset({"name", "description", "metric", "scope", "key", "comparison", "threshold",
                         "confirm_readings", "confirm_window_s", "action", "cancel_all", "cooldown_s", "reason"})
SETTINGS_DEFAULTS: dict[str, float] = {
    "eval_interval_s": 0.5,  # one reading per rule and key this often
    "rate_window_s": 5.0,  # rates are counts over this many seconds, divided by it
    "mark_max_age_s": 5.0,  # an older mark makes a marked reading stale: not used
    "telemetry_max_age_s": 3.0,  # no heartbeat for longer: the watcher's fail-safe alert state
}
TOP_FIELDS = frozenset({"approver", "reason", "settings", "rule"})


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    scope: KillScope
    key: str | None  # None for the firm; "*" = every key of the scope, each on its own
    comparison: str
    threshold: Decimal
    level: KillLevel
    cooldown_s: float
    confirm_readings: int | None = None
    confirm_window_s: float | None = None
    cancel_all: bool = False
    reason: str | None = None  # reject_rate only: count rejects of this reason code alone
    description: str = ""
    flatten: bool = False  # action FLATTEN: HALTED, cancel-all, flatten the positions, confirm flat

    @property
    def action(self) -> str:
        return "FLATTEN" if self.flatten else self.level.name

    def breached(self, value: Decimal) -> bool:
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[self.comparison]

    @property
    def confirmation(self) -> str:
        if self.confirm_readings is not None:
            return f"{self.confirm_readings} consecutive readings"
        return f"{self.confirm_window_s:g} s of readings"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "metric": self.metric, "scope": self.scope.value, "key": self.key,
                "comparison": self.comparison, "threshold": str(self.threshold), "action": self.action,
                "cancel_all": self.cancel_all, "confirm_readings": self.confirm_readings,
                "confirm_window_s": self.confirm_window_s, "cooldown_s": self.cooldown_s, "reason": self.reason}


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    settings: dict[str, float] = field(default_factory=lambda: dict(SETTINGS_DEFAULTS))
    approver: str = ""
    reason: str = ""
    path: str = ""
    digest: str = ""  # sha256 of the file, first 16 hex digits: which approved version is in force

    def setting(self, name: str) -> float:
        return self.settings.get(name, SETTINGS_DEFAULTS[name])


class RulesError(ValueError):
    """A trips file that was refused; `errors` holds one line per problem, each naming rule and field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def default_rules_path() -> Path:
    """infra/trips.toml of the project (setting `riskwatch.rules` overrides it)."""
    from core_bridge.settings import load_settings, project_root

    explicit = load_settings().get("riskwatch.rules")
    if explicit:
        return Path(str(explicit))
    root = project_root() or Path(__file__).resolve().parents[2]
    return root / "infra" / "trips.toml"


def load_rules(path: Path) -> RuleSet:
    """Read and validate the whole file; raises RulesError (every problem found) or nothing."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_rules(doc, str(path), hashlib.sha256(raw).hexdigest()[:16])


def reload_rules(path: Path, current: RuleSet) -> tuple[RuleSet, RulesError | None]:
    """The new rules, or the rules in force and why the file was refused (a bad file never half-applies)."""
    try:
        return load_rules(path), None
    except RulesError as exc:
        return current, exc


def parse_rules(doc: dict[str, Any], where: str = "trips.toml", digest: str = "") -> RuleSet:
    errors: list[str] = []
    for k in sorted(set(doc) - TOP_FIELDS):
        errors.append(f"{where}: unknown top-level field {k!r}")
    for k in ("approver", "reason"):
        if not isinstance(doc.get(k), str) or not doc[k].strip():
            errors.append(f"{where}: {k!r} missing (the file is an approved record: who approved it and why)")
    settings = _settings(doc.get("settings", {}), where, errors)
    items = doc.get("rule", [])
    if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
        errors.append(f"{where}: rules must be [[rule]] tables")
        items = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(items, 1):
        name = item.get("name")
        label = f"rule {name!r}" if isinstance(name, str) and name else f"rule #{i}"
        rule = _rule(item, f"{where}: {label}", errors)
        if rule is None:
            continue
        if rule.name in seen:
            errors.append(f"{where}: {label}: name: used by another rule (names key cool-downs and metrics)")
        seen.add(rule.name)
        rules.append(rule)
    if errors:
        raise RulesError(errors)
    return RuleSet(tuple(rules), settings, doc["approver"], doc["reason"], where, digest)


def _settings(raw: Any, where: str, errors: list[str]) -> dict[str, float]:
    out = dict(SETTINGS_DEFAULTS)
    if not isinstance(raw, dict):
        errors.append(f"{where}: [settings] must be a table")
        return out
    for k, v in raw.items():
        if k not in SETTINGS_DEFAULTS:
            errors.append(f"{where}: settings: unknown field {k!r} (known: {', '.join(SETTINGS_DEFAULTS)})")
        elif isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
            errors.append(f"{where}: settings: {k}: {v!r} must be a positive number of seconds")
        else:
            out[k] = float(v)
    return out


def _rule(item: dict[str, Any], at: str, errors: list[str]) -> Rule | None:
    before = len(errors)

    def bad(fieldname: str, problem: str) -> None:
        errors.append(f"{at}: {fieldname}: {problem}")

    for k in sorted(set(item) - RULE_FIELDS):
        bad(k, "unknown field")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        bad("name", "missing (1..64 characters)")
    metric = item.get("metric")
    if metric not in METRIC_SCOPES:
        bad("metric", f"unknown metric {metric!r}; one of {', '.join(METRIC_SCOPES)}")
    scope = _scope(item.get("scope"), metric, bad)
    key = _key(scope, item.get("key"), bad) if scope is not None else None
    comparison = item.get("comparison")
    if comparison not in COMPARISONS:
        bad("comparison", f"{comparison!r} must be one of {' '.join(COMPARISONS)}")
    threshold = _threshold(item.get("threshold"), bad)
    n, window = item.get("confirm_readings"), item.get("confirm_window_s")
    if n is None and window is None:
        bad("confirmation", "missing: give confirm_readings (>= 2) or confirm_window_s, so one bad tick never trips")
    elif n is not None and window is not None:
        bad("confirmation", "give confirm_readings or confirm_window_s, not both")
    elif n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 2):
        bad("confirm_readings", f"{n!r} must be an integer >= 2 (one reading alone never trips)")
    elif window is not None and (isinstance(window, bool) or not isinstance(window, int | float) or window <= 0):
        bad("confirm_window_s", f"{window!r} must be a positive number of seconds")
    action = item.get("action")
    if action not in ACTIONS:
        bad("action", f"{action!r} must be one of {', '.join(ACTIONS)} (a rule never resumes trading)")
    elif action == "FLATTEN" and scope is KillScope.VENUE:
        bad("action", "FLATTEN needs a firm, account or symbol scope (positions are not kept per venue)")
    cancel_all = item.get("cancel_all", False)
    if not isinstance(cancel_all, bool):
        bad("cancel_all", f"{cancel_all!r} must be true or false")
    cooldown = item.get("cooldown_s")
    if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown < 0:
        bad("cooldown_s", f"{cooldown!r} must be a number of seconds >= 0 before this rule may trip again")
    reason = item.get("reason")
    if reason is not None:
        if metric != "reject_rate":
            bad("reason", "only a reject_rate rule filters by reason")
        elif reason not in ReasonCode.__members__:
            bad("reason", f"unknown reason code {reason!r}")
    description = item.get("description", "")
    if not isinstance(description, str):
        bad("description", "must be text")
    if len(errors) > before:
        return None
    assert isinstance(name, str) and isinstance(metric, str) and scope is not None and threshold is not None
    assert isinstance(cooldown, int | float)
    return Rule(name, metric, scope, key, str(comparison), threshold, ACTIONS[str(action)], float(cooldown),
                n, None if window is None else float(window), cancel_all, reason, description, action == "FLATTEN")


def _scope(raw: Any, metric: Any, bad: Any) -> KillScope | None:
    try:
        scope = KillScope(raw)
    except ValueError:
        bad("scope", f"unknown scope {raw!r}; one of {', '.join(s.value for s in ALL_SCOPES)}")
        return None
    allowed = METRIC_SCOPES.get(metric) if isinstance(metric, str) else None
    if allowed is not None and scope not in allowed:
        bad("scope", f"{metric} is not kept per {scope.value} (it is per {', '.join(s.value for s in allowed)})")
        return None
    return scope


def _key(scope: KillScope, raw: Any, bad: Any) -> str | None:
    if scope is KillScope.FIRM:
        if raw not in (None, "*"):
            bad("key", "the firm scope has no key")
        return None
    if not isinstance(raw, str) or not raw:
        bad("key", f"give the {scope.value} or \"*\" for every {scope.value}")
        return None
    if raw == "*":
        return raw
    if scope is KillScope.VENUE:
        names = [v.name for v in Venue if v is not Venue.NONE]
        if raw.upper() not in names:
            bad("key", f"unknown venue {raw!r}; one of {', '.join(names)}")
        return raw.upper()
    if len(raw) > 8 or not raw.isascii() or not raw.isprintable():
        bad("key", f"{raw!r} is not an {scope.value} code (ASCII, at most 8 characters)")
    return raw.upper() if scope is KillScope.SYMBOL else raw


def _threshold(raw: Any, bad: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        bad("threshold", f"{raw!r} must be an integer or decimal text (\"-50000\", \"0.4\"), never a float")
        return None
    try:
        d = Decimal(str(raw).replace("_", ""))
    except InvalidOperation:
        bad("threshold", f"{raw!r} is not a number")
        return None
    if not d.is_finite():
        bad("threshold", f"{raw!r} is not a finite number")
        return None
    return d
