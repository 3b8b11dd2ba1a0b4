"""Which applied controls are *tightening* (protocol v2's ack contract, docs/protocol.md §3.8).

A tightening control is acked as soon as it is applied and made durable by the group commit right after; any
other applied mutating command is acked only once durable. A command of `protocol.TIGHTENABLE` is tightening
when it leaves nothing less restrictive than it found it:

    set_kill        the scope's level is raised or set again (levels are set, never toggled); on the firm
                    scope while the kill state is unknown (which rejects like HALTED) only HALTED is
    cancel_all      always
    set_limits      every given key's effective value is lower, or equal (higher for the keys of
                    `protocol.LIMITS_TIGHTER_WHEN_HIGHER`, e.g. a longer duplicate window)
    set_restricted  the new list holds every symbol of the old one
    set_halts       no symbol's halt state moves down (`protocol.HALT_RANK`) and the MWCB level does not fall

`classified` wraps a handler of the engine's table: it captures what the command may change before the
handler runs and sets `engine.tightening` after it returned (a refusal raises and leaves it False). The
server reads the flag when it decides whether the ack may go out before the change is durable.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from core_bridge.auth import Identity
from core_bridge.protocol import HALT_RANK, LIMITS_TIGHTER_WHEN_HIGHER, Command, KillLevel, KillScope, Request
from hw.twin.command_args import ArgsInvalid, _scope_key
from hw.twin.state import TwinState

Handler = Callable[[Request, Identity, int], dict[str, Any]]


class _Engine(Protocol):
    state: TwinState
    tightening: bool

    def effective_limits(self, account: str | None) -> dict[str, int | str]: ...


def _kill_before(st: TwinState, args: dict[str, Any]) -> KillLevel | None:
    try:
        scope, key = _scope_key(args)
    except ArgsInvalid:
        return None  # the handler refuses it
    if scope is KillScope.FIRM:
        return KillLevel.HALTED if st.state_unknown else st.kill_firm
    return st.kill[scope].get(key or "", KillLevel.ACTIVE)


def _before(eng: _Engine, cmd: Command, args: dict[str, Any]) -> Any:
    st = eng.state
    if cmd is Command.SET_KILL:
        return _kill_before(st, args)
    if cmd is Command.SET_LIMITS:
        account = args.get("account")
        return eng.effective_limits(account if isinstance(account, str) else None)
    if cmd is Command.SET_RESTRICTED:
        return frozenset(st.restricted)
    if cmd is Command.SET_HALTS:
        return dict(st.halts), st.mwcb_level
    return None


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _tightens(eng: _Engine, cmd: Command, args: dict[str, Any], result: dict[str, Any], before: Any) -> bool:
    st = eng.state
    if cmd is Command.CANCEL_ALL:
        return True
    if cmd is Command.SET_KILL:
        try:
            level = KillLevel[str(result["level"])]
        except KeyError:
            return False
        return before is not None and level >= before
    if cmd is Command.SET_LIMITS:
        after = result.get("limits") or {}
        for k in args.get("limits") or {}:
            old, new = _dec(before.get(k)), _dec(after.get(k))
            if old is None or new is None:
                return False
            if (new < old) if k in LIMITS_TIGHTER_WHEN_HIGHER else (new > old):
                return False
        return True
    if cmd is Command.SET_RESTRICTED:
        return bool(before <= frozenset(st.restricted))
    if cmd is Command.SET_HALTS:
        halts, mwcb = before
        for sym in set(halts) | set(st.halts):
            if HALT_RANK.get(st.halts.get(sym, "OPEN"), 0) < HALT_RANK.get(halts.get(sym, "OPEN"), 0):
                return False
        return bool(st.mwcb_level >= mwcb)
    return False


def classified(eng: _Engine, cmd: Command, handler: Handler) -> Handler:
    """`handler`, setting `eng.tightening` when the command it applied is tightening."""

    def run(req: Request, ident: Identity, now: int) -> dict[str, Any]:
        try:
            before = _before(eng, cmd, req.args)
        except (TypeError, ValueError, AttributeError):
            before = None  # arguments the handler will refuse
        result = handler(req, ident, now)
        try:
            eng.tightening = before is not None or cmd is Command.CANCEL_ALL
            eng.tightening = eng.tightening and _tightens(eng, cmd, req.args, result, before)
        except (TypeError, ValueError, AttributeError, KeyError):
            eng.tightening = False  # when in doubt, the ack waits for the disk
        return result

    return run
