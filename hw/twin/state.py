"""The twin core's persisted control state, and how it is written and read.

Everything an operator or a flow pushed (kill levels, limits and temporary raises, buying power, locates,
restricted list, halts), the positions, the versions and the epoch, plus the ids of the last applied
commands (so a retry across a restart is still applied once). Working orders are not persisted: a real
core's venue sessions drop them on restart (cancel-on-disconnect), and the twin behaves the same.

On disk, in the twin's state directory: a snapshot `state.json` plus a state-delta log `state.log`.

Snapshot format (`encode_state`)::

    colo-ops-twin-state v2 crc32=<8 hex digits of the body's CRC-32>\\n
    <body: JSON object, control state with sorted keys, "log_id", then "applied":
     [[id, cmd, reply, operator, reason], ...]>   (entries of 3, without operator and reason, also read)

The applied-id list is kept pre-encoded (one JSON fragment per id) so that a snapshot costs a join, not a
re-encode of the whole list; CRC-32 detects torn or damaged files (this is integrity against accidents, not
against an adversary, who could rewrite any checksum).

Persisting (`save_state`, called after every applied mutating command, before its reply): one record is
written to `state.log` after the previous one (one pwrite over the log's preallocated zeros, then
fdatasync; no rename, no directory fsync) holding the top-level state fields whose encoding changed and the
applied-id LRU operations since the last record (framing, and why preallocated, in `statelog.py`). A full
snapshot is written instead (tmp + fsync + rename + fsync(dir), then a fresh zero-filled `LOG_SEGMENT` log
named by the snapshot's `log_id`) the first time a state object is saved in a process (so on every start),
every `COMPACT_RECORDS` records, when a record no longer fits in the log, and when asked (`snapshot=True`,
e.g. on a clean stop). One writer per state directory (one twin process), as before.

Recovery (`load_state`): the snapshot, then the log records whose header names the snapshot's `log_id`
(a log naming another id is one a crash left between a snapshot's rename and its fresh log: the snapshot
already holds it). A torn last record is dropped and truncated away. A snapshot that is missing, unreadable,
fails its checksum or does not validate, or a log whose body (not just its tail) is damaged, is *unknown
state*: the damaged log is kept aside as `state.log.corrupt-<ns>` and the twin starts HALTED (see
`unknown_state`), never ACTIVE.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson

from core_bridge.protocol import KillLevel, KillScope
from hw.errors import TwinStateError
from hw.twin.statelog import LogCorrupt, frame_record, log_header, read_log

STATE_FILE = "state.json"
LOG_FILE = "state.log"
COMPACT_RECORDS = 8_192  # log records before the next save writes a snapshot (bounds replay at start)
LOG_SEGMENT = 2 * 1024 * 1024  # zero-filled log size; a record that no longer fits makes the save a snapshot
_MAGIC = b"colo-ops-twin-state v2 crc32="
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


def encode_state(state: TwinState, *, log_id: str | None = None) -> bytes:
    """The snapshot file's bytes; `log_id` names the state log whose records follow this snapshot."""
    head = orjson.dumps(state.to_json(), option=orjson.OPT_SORT_KEYS)
    extra = b',"log_id":"%s"' % log_id.encode("ascii") if log_id is not None else b""
    body = head[:-1] + extra + b',"applied":[' + b",".join(state.applied.values()) + b"]}"
    return _MAGIC + b"%08x" % zlib.crc32(body) + b"\n" + body


def _decode_body(raw: bytes, path: Path | str) -> dict[str, Any]:
    head, sep, body = raw.partition(b"\n")
    if not sep or not head.startswith(_MAGIC):
        raise TwinStateError(f"{path}: not a twin state file (bad header)")
    want = head[len(_MAGIC):].decode("ascii", "replace")
    if f"{zlib.crc32(body):08x}" != want:
        raise TwinStateError(f"{path}: checksum mismatch")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TwinStateError(f"{path}: body is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise TwinStateError(f"{path}: state body is not an object")
    return obj


def _from_body(obj: dict[str, Any], path: Path | str) -> TwinState:
    try:
        return TwinState.from_json(obj)
    except TwinStateError as exc:
        raise TwinStateError(f"{path}: {exc}") from None


def decode_state(raw: bytes, path: Path | str = STATE_FILE) -> TwinState:
    """A snapshot file's state alone (no log replayed); raises TwinStateError naming what is wrong."""
    return _from_body(_decode_body(raw, path), path)


# ---------------------------------------------------------------------------------------------- persisting
_STATE_KEYS = frozenset(TwinState().to_json())
_STORES_MAX = 8  # state directories with an open log per process (a twin has one; tests make many)


class _LogStore:
    """One state directory's open log and what its last record left on disk, for one state object."""

    def __init__(self, state_dir: Path, state: TwinState, fd: int, offset: int, encoded: dict[str, bytes]) -> None:
        self.state_dir = state_dir
        self.state = state
        self.applied = state.applied
        self.fd = fd
        self.offset = offset  # where the next record goes (over the segment's zeros)
        self.encoded = encoded  # top-level key -> its JSON as last persisted
        self.records = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_STORES: OrderedDict[str, _LogStore] = OrderedDict()


def _applied_entry(entry: Any) -> bool:
    """[id, cmd, reply] (older states) or [id, cmd, reply, operator, reason]."""
    return (isinstance(entry, list) and len(entry) in (3, 5) and isinstance(entry[0], str)
            and isinstance(entry[1], str) and isinstance(entry[2], dict)
            and all(isinstance(x, str) for x in entry[3:]))


def _encode_fields(state: TwinState) -> dict[str, bytes]:
    return {k: orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for k, v in state.to_json().items()}


def _fsync_dir(state_dir: Path) -> None:
    dfd = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_store(key: str) -> None:
    store = _STORES.pop(key, None)
    if store is not None:
        store.close()


def _snapshot(state_dir: Path, key: str, state: TwinState) -> None:
    """Full snapshot + a fresh log that names it. The snapshot's rename is made durable before the new log
    replaces the old one, so no crash can pair the old snapshot with the new (empty) log."""
    _drop_store(key)
    state_dir.mkdir(parents=True, exist_ok=True)
    log_id = os.urandom(8).hex()
    encoded = _encode_fields(state)
    state._journal.clear()
    state._journal_lost = False
    snap_tmp = state_dir / (STATE_FILE + ".tmp")
    log_tmp = state_dir / (LOG_FILE + ".tmp")
    header = log_header(log_id)
    _write_synced(snap_tmp, encode_state(state, log_id=log_id))
    _write_synced(log_tmp, header + bytes(LOG_SEGMENT - len(header)))
    os.replace(snap_tmp, state_dir / STATE_FILE)
    _fsync_dir(state_dir)
    os.replace(log_tmp, state_dir / LOG_FILE)
    _fsync_dir(state_dir)
    fd = os.open(state_dir / LOG_FILE, os.O_WRONLY)
    _STORES[key] = _LogStore(state_dir, state, fd, len(header), encoded)
    while len(_STORES) > _STORES_MAX:
        _drop_store(next(iter(_STORES)))


def _append(store: _LogStore, state: TwinState) -> bool:
    """One log record with the changed top-level fields and the LRU operations, written over the segment's
    zeros + fdatasync. False when it does not fit in the segment (the caller snapshots instead)."""
    changed: dict[str, bytes] = {}
    for k, v in state.to_json().items():
        enc = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        if store.encoded.get(k) != enc:
            changed[k] = enc
    if not changed and not state._journal:
        return True  # nothing new to make durable
    payload = (b'{"set":{' + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in changed.items())
               + b'},"applied":[' + b",".join(state._journal) + b"]}")
    record = frame_record(payload)
    if store.offset + len(record) > LOG_SEGMENT:
        return False
    written = os.pwrite(store.fd, record, store.offset)
    if written != len(record):  # never leave a short write silent (the reader sees a torn tail)
        raise OSError(f"{store.state_dir / LOG_FILE}: short write ({written} of {len(record)} bytes)")
    os.fdatasync(store.fd)
    store.encoded.update(changed)
    state._journal.clear()
    store.records += 1
    store.offset += len(record)
    return True


def save_state(state_dir: Path, state: TwinState, *, snapshot: bool = False) -> None:
    """Make `state` durable in `state_dir` before returning: a log record, or a full snapshot when this
    state object has no open log here yet, the log is due for compaction, or `snapshot` asks for one."""
    key = os.path.abspath(state_dir)
    store = _STORES.get(key)
    if (snapshot or store is None or store.state is not state or store.applied is not state.applied
            or state._journal_lost or store.records >= COMPACT_RECORDS):
        _snapshot(Path(state_dir), key, state)
        return
    try:
        fits = _append(store, state)
    except BaseException:
        _drop_store(key)  # what reached the disk is unknown: the next save starts over with a snapshot
        raise
    if not fits:
        _snapshot(Path(state_dir), key, state)


def close_state(state_dir: Path) -> None:
    """Forget this process's open log for `state_dir` (the files stay; the next save snapshots)."""
    _drop_store(os.path.abspath(state_dir))


def _replay(obj: dict[str, Any], records: list[bytes], path: Path) -> None:
    """Apply log records to a snapshot body in place; raises TwinStateError for a record that parses badly."""
    applied: OrderedDict[str, Any] = OrderedDict()
    raw_applied = obj.get("applied")
    if not isinstance(raw_applied, list):
        raise TwinStateError(f"{path.parent / STATE_FILE}: state field 'applied' is not a list")
    for entry in raw_applied:
        if not _applied_entry(entry):
            raise TwinStateError(f"{path.parent / STATE_FILE}: state field 'applied' has an invalid entry")
        applied[entry[0]] = entry
    for n, payload in enumerate(records, 1):
        try:
            rec = orjson.loads(payload)
            sets, ops = rec["set"], rec["applied"]
            if not isinstance(sets, dict) or not isinstance(ops, list) or not sets.keys() <= _STATE_KEYS:
                raise ValueError("unexpected fields")
            obj.update(sets)
            for op in ops:
                if isinstance(op, str):
                    if op in applied:
                        applied.move_to_end(op)
                elif _applied_entry(op):
                    applied[op[0]] = op
                    applied.move_to_end(op[0])
                    while len(applied) > APPLIED_IDS_MAX:
                        applied.popitem(last=False)
                else:
                    raise ValueError(f"bad applied operation {op!r}")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TwinStateError(f"{path}: record {n} invalid: {exc}") from None
    obj["applied"] = list(applied.values())


def _quarantine(path: Path) -> None:
    try:
        os.replace(path, path.with_name(f"{path.name}.corrupt-{time.time_ns()}"))
    except OSError:
        pass  # best effort: the state is unknown either way, and the next snapshot replaces the log


def load_state(state_dir: Path) -> TwinState:
    """Snapshot + replay of its log; raises TwinStateError if either is missing (snapshot) or corrupt.

    A torn last log record is truncated away; a damaged log body is moved aside (`state.log.corrupt-<ns>`)."""
    path = state_dir / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TwinStateError(f"{path}: missing") from None
    except OSError as exc:
        raise TwinStateError(f"{path}: unreadable: {exc}") from None
    obj = _decode_body(raw, path)
    log_id = obj.pop("log_id", None)
    if log_id is not None:
        log_path = state_dir / LOG_FILE
        try:
            log_raw = log_path.read_bytes()
        except FileNotFoundError:
            log_raw = b""  # a crash after the snapshot's rename and before its log's: nothing follows it yet
        except OSError as exc:
            raise TwinStateError(f"{log_path}: unreadable: {exc}") from None
        try:
            read = read_log(log_raw)
        except LogCorrupt as exc:
            _quarantine(log_path)
            raise TwinStateError(f"{log_path}: {exc}") from None
        if read.log_id == log_id:
            try:
                _replay(obj, read.records, log_path)
            except TwinStateError:
                _quarantine(log_path)
                raise
            if read.torn:
                try:
                    os.truncate(log_path, read.good_end)
                except OSError as exc:
                    raise TwinStateError(f"{log_path}: cannot truncate torn tail: {exc}") from None
    return _from_body(obj, path)
