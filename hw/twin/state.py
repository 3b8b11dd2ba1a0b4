"""The twin core's control state: what it holds and how it is validated (how it is made durable:
statestore.py).

Everything an operator or a flow pushed (kill levels, limits and temporary raises, buying power, locates,
restricted list, halts), the positions, the versions and the epoch, plus the ids of the last applied
commands (so a retry across a restart is still applied once). Working orders are not persisted: a real
core's venue sessions drop them on restart (cancel-on-disconnect), and the twin behaves the same.

Also here: the 15c3-5 limit keys with the firm defaults and the operator policy ceiling, and the two
starting points, `provisioned_state` (a fresh install) and `unknown_state` (state lost: firm HALTED).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from core_bridge.protocol import KillLevel, KillScope
from hw.errors import TwinStateError

APPLIED_IDS_MAX = 1_024  # idempotency LRU of applied command ids; retries come within seconds
_JOURNAL_MAX = 4 * APPLIED_IDS_MAX  # LRU operations held for the next log record; beyond: next save snapshots

# 15c3-5 limit keys and their kinds: "int" travels as a JSON integer, "dec" as a decimal string.
LIMIT_KINDS: dict[str, str] = {
    "max_order_qty": "int",
    "max_order_notional": "dec",
    "price_collar_pct": "dec",
    "duplicate_window_ms": "int",
    "max_orders_per_sec": "int",
    "credit_threshold": "dec",
    "gross_exposure_cap": "dec",
    "net_exposure_cap": "dec",
}

# Firm-wide defaults a freshly provisioned twin starts with. Illustrative, sized for the demo's flow.
DEFAULT_LIMITS: dict[str, int | str] = {
    "max_order_qty": 10_000,
    "max_order_notional": "1000000",
    "price_collar_pct": "5",
    "duplicate_window_ms": 200,
    "max_orders_per_sec": 2_000,
    "credit_threshold": "50000000",
    "gross_exposure_cap": "100000000",
    "net_exposure_cap": "50000000",
}

# What an operator may set without an admin key (15c3-5: limits changed only within written policy).
POLICY_CEILING: dict[str, int | str] = {
    "max_order_qty": 100_000,
    "max_order_notional": "10000000",
    "price_collar_pct": "20",
    "duplicate_window_ms": 60_000,
    "max_orders_per_sec": 20_000,
    "credit_threshold": "500000000",
    "gross_exposure_cap": "1000000000",
    "net_exposure_cap": "500000000",
}


def normalize_limit(key: str, value: Any) -> int | str:
    """Validate one limit value; ints stay ints, decimals become canonical strings. Raises ValueError."""
    kind = LIMIT_KINDS.get(key)
    if kind is None:
        raise ValueError(f"unknown limit {key!r}")
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**32 - 1:
            raise ValueError(f"limit {key!r} must be an integer 0..2^32-1")
        return value
    if not isinstance(value, str):
        raise ValueError(f"limit {key!r} must be a decimal string")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"limit {key!r} is not a decimal: {value!r}") from None
    if not d.is_finite() or d < 0 or d > Decimal(10) ** 15:
        raise ValueError(f"limit {key!r} out of range: {value!r}")
    return format(d.normalize(), "f")


def limit_above_policy(key: str, value: int | str) -> bool:
    return Decimal(str(value)) > Decimal(str(POLICY_CEILING[key]))


@dataclass
class TwinState:
    """The control state. Plain data; the engine mutates it and `save_state` persists it."""

    epoch: int = 0
    state_version: int = 0
    limits_version: int = 0
    state_unknown: bool = False
    kill_firm: KillLevel = KillLevel.ACTIVE
    # scope -> key -> level; ACTIVE entries are dropped so the maps list only what restricts
    kill: dict[KillScope, dict[str, KillLevel]] = field(
        default_factory=lambda: {KillScope.ACCOUNT: {}, KillScope.SYMBOL: {}, KillScope.VENUE: {}}
    )
    limits: dict[str, dict[str, int | str]] = field(default_factory=lambda: {"firm": dict(DEFAULT_LIMITS)})
    # [{account, limits, previous, until_ns, approver, operator}]; `previous` holds the values to restore
    temp_limits: list[dict[str, Any]] = field(default_factory=list)
    bp: dict[str, str] = field(default_factory=dict)
    bp_as_of_ns: int | None = None
    locates: dict[str, int] | None = None  # None: never pushed (short sales fail closed)
    locates_date: str | None = None
    restricted: list[str] = field(default_factory=list)
    # Rule 204(b) penalty box: symbol -> pre-borrowed shares left (a short there draws on these, not locates)
    preborrow_required: dict[str, int] = field(default_factory=dict)
    preborrow_date: str | None = None
    halts: dict[str, str] = field(default_factory=dict)
    mwcb_level: int = 0
    positions: dict[str, dict[str, int]] = field(default_factory=dict)
    sod_date: str | None = None
    accounts: list[str] = field(default_factory=list)  # accounts the core knows beyond the reference data
    # request id -> pre-encoded JSON [id, cmd, reply]; insertion order is LRU order
    applied: OrderedDict[str, bytes] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        # Persistence bookkeeping, not state (so not dataclass fields: equality, repr and fields() ignore it).
        # LRU operations since the last log record (an [id, cmd, reply] entry added, or a JSON "id" refreshed),
        # so a log record carries what changed in `applied` without comparing 1,024 entries per command.
        self._journal: list[bytes] = []
        self._journal_lost = False  # the journal overflowed unsaved: the next save writes a snapshot

    def _note(self, op: bytes) -> None:
        if len(self._journal) >= _JOURNAL_MAX:
            self._journal.clear()
            self._journal_lost = True
        if not self._journal_lost:
            self._journal.append(op)

    def remember(self, request_id: str, cmd: str, reply: dict[str, Any], operator: str = "",
                 reason: str = "") -> None:
        """Keep an applied command's reply for idempotent replays, with who sent it and why: this entry is made
        durable before the reply goes out, so the core holds its own record of every applied command."""
        entry = orjson.dumps([request_id, cmd, reply, operator, reason])
        self.applied[request_id] = entry
        self.applied.move_to_end(request_id)
        while len(self.applied) > APPLIED_IDS_MAX:
            self.applied.popitem(last=False)
        self._note(entry)

    def applied_reply(self, request_id: str) -> tuple[str, dict[str, Any]] | None:
        """(cmd, original reply) of an already applied request id, refreshing its LRU position."""
        raw = self.applied.get(request_id)
        if raw is None:
            return None
        self.applied.move_to_end(request_id)
        self._note(orjson.dumps(request_id))
        entry = orjson.loads(raw)
        return entry[1], entry[2]

    def kill_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"firm": self.kill_firm.name}
        for scope, levels in self.kill.items():
            out[scope.value] = {k: v.name for k, v in sorted(levels.items())}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "state_version": self.state_version,
            "limits_version": self.limits_version,
            "state_unknown": self.state_unknown,
            "kill": self.kill_json(),
            "limits": self.limits,
            "temp_limits": self.temp_limits,
            "bp": self.bp,
            "bp_as_of_ns": self.bp_as_of_ns,
            "locates": self.locates,
            "locates_date": self.locates_date,
            "restricted": sorted(self.restricted),
            "preborrow_required": dict(sorted(self.preborrow_required.items())),
            "preborrow_date": self.preborrow_date,
            "halts": self.halts,
            "mwcb_level": self.mwcb_level,
            "positions": self.positions,
            "sod_date": self.sod_date,
            "accounts": self.accounts,
        }

    @classmethod
    def from_json(cls, obj: Any) -> TwinState:
        """Rebuild from the persisted body; raises TwinStateError naming the field at fault."""
        if not isinstance(obj, dict):
            raise TwinStateError("state body is not an object")
        try:
            st = cls()
            st.epoch = _int(obj, "epoch")
            st.state_version = _int(obj, "state_version")
            st.limits_version = _int(obj, "limits_version")
            st.state_unknown = bool(obj["state_unknown"])
            kill = obj["kill"]
            st.kill_firm = KillLevel[kill["firm"]]
            for scope in (KillScope.ACCOUNT, KillScope.SYMBOL, KillScope.VENUE):
                st.kill[scope] = {str(k): KillLevel[v] for k, v in kill[scope.value].items()}
            st.limits = {
                str(scope): {k: normalize_limit(k, v) for k, v in vals.items()} for scope, vals in obj["limits"].items()
            }
            if "firm" not in st.limits:
                raise TwinStateError("state field 'limits' has no firm entry")
            st.temp_limits = list(obj["temp_limits"])
            st.bp = {str(k): str(Decimal(v)) for k, v in obj["bp"].items()}
            st.bp_as_of_ns = obj["bp_as_of_ns"]
            st.locates = None if obj["locates"] is None else {str(k): int(v) for k, v in obj["locates"].items()}
            st.locates_date = obj["locates_date"]
            st.restricted = [str(s) for s in obj["restricted"]]
            # absent in states written before the penalty box existed: none
            st.preborrow_required = {str(k): int(v) for k, v in (obj.get("preborrow_required") or {}).items()}
            st.preborrow_date = obj.get("preborrow_date")
            st.halts = {str(k): str(v) for k, v in obj["halts"].items()}
            st.mwcb_level = _int(obj, "mwcb_level")
            st.positions = {str(a): {str(s): int(q) for s, q in p.items()} for a, p in obj["positions"].items()}
            st.sod_date = obj["sod_date"]
            st.accounts = [str(a) for a in obj["accounts"]]
            for entry in obj["applied"]:
                if not _applied_entry(entry):
                    raise TwinStateError("state field 'applied' has an invalid entry")
                st.applied[entry[0]] = orjson.dumps(entry)
        except TwinStateError:
            raise
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            raise TwinStateError(f"state field invalid: {exc!r}") from None
        return st


def _int(obj: dict[str, Any], key: str) -> int:
    v = obj[key]
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise TwinStateError(f"state field {key!r} is not a non-negative integer")
    return v


def _applied_entry(entry: Any) -> bool:
    """[id, cmd, reply] (older states) or [id, cmd, reply, operator, reason]."""
    return (isinstance(entry, list) and len(entry) in (3, 5) and isinstance(entry[0], str)
            and isinstance(entry[1], str) and isinstance(entry[2], dict)
            and all(isinstance(x, str) for x in entry[3:]))


def unknown_state(epoch: int = 0) -> TwinState:
    """What the twin runs with when its state could not be read: firm HALTED, flagged unknown."""
    st = TwinState(epoch=epoch)
    st.kill_firm = KillLevel.HALTED
    st.state_unknown = True
    return st


def provisioned_state(today: str | None = None) -> TwinState:
    """A freshly provisioned twin: ACTIVE, default limits, BP for every reference account, locates."""
    from hw.refdata import ACCOUNTS, SECURITIES

    st = TwinState()
    st.bp = {a.account: "10000000" for a in ACCOUNTS}
    st.locates = {s.symbol: 100_000 for s in SECURITIES}
    st.locates_date = today
    return st
