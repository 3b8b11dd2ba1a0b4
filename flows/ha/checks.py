"""Pure checks of a drill's outcome: the journal against both nodes' event logs, state snapshots, orders in
flight, commands applied once. Plain functions over numpy records and dicts (table-tested in unit tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EVENT_SIZE, EventFlag, EventType

# What must be identical on the new active after a takeover (the replicated control state).
STATE_KEYS = ("kill", "limits", "temp_limits", "bp", "bp_as_of_ns", "locates", "locates_date", "restricted",
              "halts", "mwcb_level", "positions", "sod_date")
_ROW = np.dtype((np.void, EVENT_SIZE))
_TERMINAL = (EventType.ORDER_CANCELLED, EventType.ORDER_EXPIRED, EventType.ROUTE_REJECTED)


@dataclass(frozen=True)
class StreamCheck:
    journal_events: int
    stream_events: int  # the union of both nodes' logs over the journal's epochs
    lost: int  # in a node's log (and so possibly published), not in the journal
    duplicated: int  # an (epoch, seq) the journal holds twice
    diverged: int  # the journal's record differs from the nodes' record at the same (epoch, seq)
    extra: int  # in the journal, in no node's log
    nodes_disagree: int  # the two logs hold different records at the same (epoch, seq)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.diverged or self.extra or self.nodes_disagree)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _canon(recs: np.ndarray) -> np.ndarray:
    """Records with the delivery-only REPLAY flag cleared (rewound and live copies compare equal)."""
    out = np.array(recs, dtype=EVENT_DTYPE, copy=True)
    out["flags"] &= np.uint8(~int(EventFlag.REPLAY) & 0xFF)
    return out


def _keys(recs: np.ndarray) -> np.ndarray:
    return (recs["epoch"].astype(np.uint64) << np.uint64(40)) | recs["seq"].astype(np.uint64)


def read_event_logs(events_dir: Path) -> dict[int, np.ndarray]:
    """A twin node's event log (events/epoch-*.evt) as {epoch: records}."""
    out: dict[int, np.ndarray] = {}
    for p in sorted(events_dir.glob("epoch-*.evt")):
        raw = p.read_bytes()
        n = len(raw) // EVENT_SIZE
        if n:
            out[int(p.stem.split("-")[1])] = np.frombuffer(raw[: n * EVENT_SIZE], dtype=EVENT_DTYPE).copy()
    return out


def check_stream(journal: np.ndarray, node_logs: Sequence[dict[int, np.ndarray]]) -> StreamCheck:
    """The journal against the union of the nodes' logs, over the epochs the journal holds."""
    j = _canon(journal)
    epochs = sorted({int(e) for e in np.unique(j["epoch"])}) if len(j) else []
    union: dict[int, np.void] = {}
    disagree = 0
    for logs in node_logs:
        for epoch in epochs:
            recs = logs.get(epoch)
            if recs is None or not len(recs):
                continue
            c = _canon(recs)
            for k, row in zip(_keys(c).tolist(), c.view(_ROW), strict=True):
                prev = union.get(k)
                if prev is None:
                    union[k] = row
                elif prev.tobytes() != row.tobytes():
                    disagree += 1
    jkeys = _keys(j).tolist()
    counts = Counter(jkeys)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    diverged = extra = 0
    for k, row in zip(jkeys, j.view(_ROW), strict=True):
        ref = union.get(k)
        if ref is None:
            extra += 1
        elif ref.tobytes() != row.tobytes():
            diverged += 1
    jset = set(jkeys)
    lost = sum(1 for k in union if k not in jset)
    return StreamCheck(len(j), len(union), lost, duplicated, diverged, extra, disagree)


def state_differences(before: dict[str, Any], after: dict[str, Any], keys: Iterable[str] = STATE_KEYS) -> list[str]:
    """The replicated-state keys whose values differ between two snapshots (empty: identical)."""
    return [k for k in keys if before.get(k) != after.get(k)]


def unresolved_orders(journal: np.ndarray, upto: tuple[int, int] | None = None) -> list[int]:
    """Order ids acknowledged (working) at or before `upto` (epoch, seq) that never reached an end in the
    journal: a fill to zero, a cancel, an expiry, or a replace of them."""
    if not len(journal):
        return []
    j = journal
    working: set[int] = set()
    ended: set[int] = set()
    limit = None if upto is None else (int(upto[0]) << 40) | int(upto[1])
    keys = _keys(j)
    for i in range(len(j)):
        t, oid = int(j["etype"][i]), int(j["order_id"][i])
        if t == EventType.ORDER_ACKED:
            orig = int(j["orig_order_id"][i])
            if orig:
                ended.add(orig)
            if limit is None or int(keys[i]) <= limit:
                working.add(oid)
        elif (t == EventType.ORDER_FILLED and int(j["leaves_qty"][i]) == 0) or t in _TERMINAL:
            ended.add(oid)
    return sorted(working - ended)


def new_orders_per_clordid(journal: np.ndarray, clordids: Iterable[int]) -> dict[int, int]:
    """How many ORDER_NEW/ORDER_REJECTED events each clordid has in the journal (1 = applied once)."""
    want = set(clordids)
    got: Counter[int] = Counter()
    if len(journal):
        mask = np.isin(journal["etype"], [EventType.ORDER_NEW, EventType.ORDER_REJECTED])
        for c in journal["clordid"][mask].tolist():
            if int(c) in want:
                got[int(c)] += 1
    return {c: got.get(c, 0) for c in sorted(want)}


def takeover_point(journal: np.ndarray) -> tuple[int, int] | None:
    """(epoch, seq) of the last ROLE_CHANGED event flagged TAKEOVER in the journal."""
    if not len(journal):
        return None
    m = (journal["etype"] == EventType.ROLE_CHANGED) & ((journal["flags"] & np.uint8(EventFlag.TAKEOVER)) != 0)
    idx = np.nonzero(m)[0]
    if not len(idx):
        return None
    i = int(idx[-1])
    return int(journal["epoch"][i]), int(journal["seq"][i])


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """Median and worst (max) of a series of durations, ms."""
    if not values:
        return {"median": None, "worst": None, "n": 0}
    s = sorted(values)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return {"median": round(median, 1), "worst": round(s[-1], 1), "n": len(s)}
