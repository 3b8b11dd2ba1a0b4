"""Argument validation for the twin's commands, and the two ways a command is turned down.

A handler validates its own `args` with these helpers (each raises ValueError naming the field at fault) and
turns a ValueError into `ArgsInvalid`; `Refused` is for well-formed commands the core will not apply. Both
are caught by the dispatcher (`dispatch.CommandDispatch.handle`), which replies with nothing applied.
Shared by the engine's control commands, order entry (`orders.parse_order`) and the server's own commands
(`sim`, rewind requests).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from core_bridge.protocol import KillScope, Venue
from core_bridge.reasons import ReasonCode


class ArgsInvalid(Exception):
    """A command's arguments are missing or out of range (reply MSG_ARGS_INVALID, nothing applied)."""


class Refused(Exception):
    """A well-formed command the core will not apply (reply carries `code`, nothing applied)."""

    def __init__(self, code: ReasonCode, message: str = "") -> None:
        super().__init__(message)
        self.code = code


def _ascii8(v: Any, what: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 8 or not v.isascii() or not v.isprintable():
        raise ValueError(f"{what} must be 1..8 printable ASCII characters")
    return v


def _uint(v: Any, what: str, hi: int = 2**32 - 1) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > hi:
        raise ValueError(f"{what} must be an integer 0..{hi}")
    return v


def _enum(cls: Any, v: Any, what: str) -> Any:
    if not isinstance(v, str) or v not in cls.__members__:
        raise ValueError(f"{what} must be one of {sorted(cls.__members__)}")
    return cls[v]


def _dec(v: Any, what: str) -> Decimal:
    if not isinstance(v, str):
        raise ValueError(f"{what} must be a decimal string")
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise ValueError(f"{what} is not a decimal: {v[:40]!r}") from None
    if not d.is_finite() or d < 0 or d > Decimal(10) ** 15:
        raise ValueError(f"{what} out of range")
    return d


def _scope_key(a: dict[str, Any]) -> tuple[KillScope, str | None]:
    """{scope, key} of set_kill/cancel_all; key is null for firm, a venue name for venue."""
    try:
        raw = a.get("scope")
        scope = _enum(KillScope, raw.upper() if isinstance(raw, str) else None, "scope")
        key = a.get("key")
        if scope is KillScope.FIRM:
            if key is not None:
                raise ValueError("key must be null for the firm scope")
            return scope, None
        if scope is KillScope.VENUE:
            venue = _enum(Venue, key, "key")
            if venue is Venue.NONE:
                raise ValueError("key must be NSDQ, NYSE or ARCA")
            return scope, venue.name
        return scope, _ascii8(key, "key")
    except ValueError as exc:
        raise ArgsInvalid(str(exc)) from None


def _date(v: Any) -> str:
    import datetime as _dt

    if not isinstance(v, str):
        raise ValueError("date must be YYYY-MM-DD")
    try:
        _dt.date.fromisoformat(v)
    except ValueError:
        raise ValueError(f"date must be YYYY-MM-DD, got {v[:20]!r}") from None
    return v


def _int_in(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
