"""How the twin's control state (`state.TwinState`) is written and read: snapshot + state-delta log.

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
`state.unknown_state`), never ACTIVE.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from hw.errors import TwinStateError
from hw.twin.state import APPLIED_IDS_MAX, TwinState, _applied_entry
from hw.twin.statelog import LogCorrupt, frame_record, log_header, read_log

STATE_FILE = "state.json"
LOG_FILE = "state.log"
COMPACT_RECORDS = 8_192  # log records before the next save writes a snapshot (bounds replay at start)
LOG_SEGMENT = 2 * 1024 * 1024  # zero-filled log size; a record that no longer fits makes the save a snapshot
_MAGIC = b"colo-ops-twin-state v2 crc32="


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


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """A log record `prepare_state` encoded and accounted for, not yet written: `write_record` writes it at
    its offset and `flush_records` makes it durable. Records of one log are written in the order staged."""

    key: str  # the state directory's store key (absolute path)
    fd: int
    offset: int
    data: bytes


_KEYS: dict[Path | str, str] = {}  # state_dir -> its absolute path: every control's save looks it up


def _store_key(state_dir: Path | str) -> str:
    key = _KEYS.get(state_dir)
    if key is None:
        if len(_KEYS) > 64:
            _KEYS.clear()
        key = _KEYS[state_dir] = os.path.abspath(state_dir)
    return key


def _stage(store: _LogStore, state: TwinState) -> StagedRecord | Literal[False] | None:
    """One log record with the changed top-level fields and the LRU operations, to go over the segment's
    zeros. None: nothing changed; False: it does not fit in the segment (the caller snapshots instead). The
    store's bookkeeping counts it as written from here on."""
    changed: dict[str, bytes] = {}
    for k, v in state.to_json().items():
        enc = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        if store.encoded.get(k) != enc:
            changed[k] = enc
    if not changed and not state._journal:
        return None  # nothing new to make durable
    payload = (b'{"set":{' + b",".join(b'"%s":%s' % (k.encode(), v) for k, v in changed.items())
               + b'},"applied":[' + b",".join(state._journal) + b"]}")
    record = frame_record(payload)
    if store.offset + len(record) > LOG_SEGMENT:
        return False
    staged = StagedRecord(_store_key(store.state_dir), store.fd, store.offset, record)
    store.encoded.update(changed)
    state._journal.clear()
    store.records += 1
    store.offset += len(record)
    return staged


def write_record(rec: StagedRecord) -> None:
    """Write a staged record (or a run of contiguous ones joined) in place; raises OSError on a short write."""
    written = os.pwrite(rec.fd, rec.data, rec.offset)
    if written != len(rec.data):  # never leave a short write silent (the reader sees a torn tail)
        raise OSError(f"{rec.key}/{LOG_FILE}: short write ({written} of {len(rec.data)} bytes)")


def flush_records(fd: int) -> None:
    os.fdatasync(fd)


def abandon_log(state_dir: Path) -> None:
    """After a failed write or flush: what reached the disk is unknown, so the next save is a snapshot."""
    _drop_store(os.path.abspath(state_dir))


def snapshot_due(state_dir: Path, state: TwinState) -> bool:
    """Whether the next save of `state` here writes a full snapshot instead of a log record."""
    store = _STORES.get(_store_key(state_dir))
    return (store is None or store.state is not state or store.applied is not state.applied
            or state._journal_lost or store.records >= COMPACT_RECORDS)


def stage_state(state_dir: Path, state: TwinState) -> StagedRecord | Literal["snapshot"] | None:
    """The log record that makes `state` durable here, encoded and accounted for but not written (None:
    nothing changed), or "snapshot" when a full snapshot is due instead (nothing staged). For a caller that
    writes records itself and must flush them all before the snapshot replaces their log."""
    if snapshot_due(state_dir, state):
        return "snapshot"
    store = _STORES[_store_key(state_dir)]
    staged = _stage(store, state)
    return "snapshot" if staged is False else staged


def prepare_state(state_dir: Path, state: TwinState, *, snapshot: bool = False) -> StagedRecord | None:
    """The first half of `save_state`: a full snapshot, when one is due or asked for, is written and made
    durable here (None is returned); otherwise the log record to write (None: nothing changed)."""
    if snapshot:
        _snapshot(Path(state_dir), os.path.abspath(state_dir), state)
        return None
    staged = stage_state(state_dir, state)
    if staged == "snapshot":
        _snapshot(Path(state_dir), os.path.abspath(state_dir), state)
        return None
    return staged


def save_state(state_dir: Path, state: TwinState, *, snapshot: bool = False) -> None:
    """Make `state` durable in `state_dir` before returning: a log record, or a full snapshot when this
    state object has no open log here yet, the log is due for compaction, or `snapshot` asks for one."""
    staged = prepare_state(state_dir, state, snapshot=snapshot)
    if staged is None:
        return
    try:
        write_record(staged)
        flush_records(staged.fd)
    except BaseException:
        _drop_store(staged.key)  # what reached the disk is unknown: the next save starts over with a snapshot
        raise


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


# ---------------------------------------------------------------------------------------- clean shutdown
CLEAN_FILE = "clean-shutdown"
_CLEAN_MAGIC = b"colo-ops-twin-clean v1 crc32="


def mark_clean(state_dir: Path, state: TwinState) -> None:
    """Write the clean-shutdown marker: the last thing a stopping twin writes, after its final snapshot. It
    names the state version it closed at; `take_clean_mark` at the next start reads and removes it."""
    body = orjson.dumps({"state_version": state.state_version, "epoch": state.epoch, "closed_ns": time.time_ns()})
    tmp = state_dir / (CLEAN_FILE + ".tmp")
    _write_synced(tmp, _CLEAN_MAGIC + b"%08x" % zlib.crc32(body) + b"\n" + body)
    os.replace(tmp, state_dir / CLEAN_FILE)
    _fsync_dir(state_dir)


def take_clean_mark(state_dir: Path) -> dict[str, Any] | None:
    """The clean-shutdown marker's content (None: absent or unreadable, i.e. the last stop was not clean),
    removed durably before returning, so that a crash of the run that follows is never taken for clean."""
    path = state_dir / CLEAN_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        raw = b""
    mark: dict[str, Any] | None = None
    head, sep, body = raw.partition(b"\n")
    if sep and head.startswith(_CLEAN_MAGIC) and head[len(_CLEAN_MAGIC):] == b"%08x" % zlib.crc32(body):
        try:
            obj = orjson.loads(body)
            mark = obj if isinstance(obj, dict) else None
        except orjson.JSONDecodeError:
            mark = None
    path.unlink(missing_ok=True)
    (state_dir / (CLEAN_FILE + ".tmp")).unlink(missing_ok=True)
    _fsync_dir(state_dir)
    return mark
