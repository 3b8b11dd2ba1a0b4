"""The wire contract between colo-ops and the trading core.

This module is the single source of truth for what crosses the wire; `docs/protocol.md` explains it
for the C core's team. Nothing here does I/O: it is constants, enums, the fixed-size event record as a
numpy dtype, and the pure encode/decode helpers both sides use.

Sockets (all CURVE-encrypted; the core is the CURVE server on every socket):

    control    core ROUTER  <->  client DEALER   one JSON request frame -> one JSON reply frame
    telemetry  core PUB     ->   client SUB      topic frame + JSON frame
    dropcopy   core PUB     ->   client SUB      topic b"dc" + header frame + records frame
    rewind     core ROUTER  <->  client DEALER   JSON request -> header+records frames ..., then an end frame

Every control request is a JSON object::

    {"v": 2, "cmd": "set_kill", "id": "<idempotency key>", "operator": "jdoe", "reason": "...",
     "expires_ns": 1763800000000000000, "args": {...}, "durable_notify": false}

and every reply::

    {"v": 2, "id": "<same key>", "ok": true, "code": "OK", "state_version": 42, "durable_version": 41,
     "result": {...}, "message": ""}

The role is not in the request: the core derives it from the client's CURVE public key. Version 2 is the
ack contract for tightening controls (docs/protocol.md §3.8); a v1 request still gets v1 semantics.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np

    EVENT_DTYPE: np.dtype
    EVENT_SIZE: int

PROTOCOL_VERSION = 2  # the control protocol this side speaks (hello negotiates; see SUPPORTED_VERSIONS)
PROTOCOL_VERSION_MIN = 1  # the oldest control protocol a core still serves (v1: every mutating ack is durable)
SUPPORTED_VERSIONS = tuple(range(PROTOCOL_VERSION_MIN, PROTOCOL_VERSION + 1))
STREAM_VERSION = 1  # drop-copy batch header `version` and rewind `v` (unchanged by protocol 2; rewind takes 2)
# v2: an applied change's write + flush starts within this interval of applying it (group commit)
GROUP_COMMIT_INTERVAL_US = 2_000

# Fixed point: every price on the wire and in the journal is an integer number of 1/10,000 dollar.
# US equities quote in $0.01 above $1 and $0.0001 below (Reg NMS 612), so 1e-4 is exact for all of them.
PRICE_SCALE = 10_000

DEFAULT_PORTS = {"control": 17001, "telemetry": 17002, "dropcopy": 17003, "rewind": 17004}
DROPCOPY_TOPIC = b"dc"
TELEMETRY_TOPIC_HEARTBEAT = b"hb"
TELEMETRY_TOPIC_HEALTH = b"health"
TELEMETRY_TOPIC_POSITIONS = b"pos"
TELEMETRY_TOPIC_MARKS = b"marks"  # reference prices per symbol (the risk watcher's marks)


class Role(enum.StrEnum):
    """What a CURVE key may do. Higher roles include the lower ones."""

    MONITOR = "monitor"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"monitor": 0, "operator": 1, "admin": 2}[self.value]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Command(enum.StrEnum):
    """Control commands. Imperative names; every one is idempotent by its `id`."""

    HELLO = "hello"
    STATUS = "status"
    SNAPSHOT = "snapshot"
    SET_KILL = "set_kill"
    CANCEL_ALL = "cancel_all"
    SET_LIMITS = "set_limits"
    SET_BP = "set_bp"
    SET_LOCATES = "set_locates"
    SET_RESTRICTED = "set_restricted"
    SET_HALTS = "set_halts"
    SET_PREBORROW = "set_preborrow"  # Rule 204(b) penalty box: shorts in these symbols need a pre-borrow
    SET_SOD_POSITIONS = "set_sod_positions"
    # Order entry from the strategy side is not ours; the twin exposes it so tests and the demo can drive flow.
    SUBMIT_ORDERS = "submit_orders"
    # HA (Binary Star): admin only.
    HA_STATUS = "ha_status"
    HA_PROMOTE = "ha_promote"
    HA_DEMOTE = "ha_demote"
    SIM = "sim"


# The least role each command needs. The core enforces this; the client checks it early for a clear error.
COMMAND_ROLE: dict[Command, Role] = {
    Command.HELLO: Role.MONITOR,
    Command.STATUS: Role.MONITOR,
    Command.SNAPSHOT: Role.MONITOR,
    Command.HA_STATUS: Role.MONITOR,
    Command.SET_KILL: Role.OPERATOR,
    Command.CANCEL_ALL: Role.OPERATOR,
    Command.SET_LIMITS: Role.OPERATOR,
    Command.SET_BP: Role.OPERATOR,
    Command.SET_LOCATES: Role.OPERATOR,
    Command.SET_RESTRICTED: Role.OPERATOR,
    Command.SET_HALTS: Role.OPERATOR,
    Command.SET_PREBORROW: Role.OPERATOR,
    Command.SET_SOD_POSITIONS: Role.OPERATOR,
    Command.SUBMIT_ORDERS: Role.OPERATOR,
    Command.SIM: Role.OPERATOR,
    Command.HA_PROMOTE: Role.ADMIN,
    Command.HA_DEMOTE: Role.ADMIN,
}

# Commands that change state; read-only ones never bump the state version.
MUTATING = frozenset(c for c, r in COMMAND_ROLE.items() if r is not Role.MONITOR)

# v2: a TIGHTENABLE command that leaves nothing less restrictive is acked at once (docs/protocol.md §3.8);
# every other applied mutating command only once durable.
TIGHTENABLE = frozenset({Command.SET_KILL, Command.CANCEL_ALL, Command.SET_LIMITS, Command.SET_RESTRICTED,
                         Command.SET_HALTS})
LIMITS_TIGHTER_WHEN_HIGHER = frozenset({"duplicate_window_ms"})  # other limit keys restrict more when lower
HALT_RANK = {"OPEN": 0, "LULD_PAUSE": 1, "HALTED": 2}


class KillScope(enum.StrEnum):
    FIRM = "firm"
    ACCOUNT = "account"
    SYMBOL = "symbol"
    VENUE = "venue"


class KillLevel(enum.IntEnum):
    """Trading levels, most permissive first. Levels are *set*, never toggled.

    The effective level for an order is the most restrictive of firm, its account, its symbol and its
    venue. Cancels are never blocked at any level.
    """

    ACTIVE = 0
    REDUCE_ONLY = 1  # only orders that bring the account's position in the symbol closer to flat
    CANCEL_ONLY = 2  # no new orders or replaces; cancels only
    HALTED = 3  # nothing new; working orders are left for cancel_all


class Side(enum.IntEnum):
    BUY = 1
    SELL = 2
    SHORT = 3  # short sale: needs an available locate (Reg SHO 203(b))
    SHORT_EXEMPT = 4


class Venue(enum.IntEnum):
    NONE = 0
    NSDQ = 1  # Nasdaq, OUCH
    NYSE = 2  # NYSE, Pillar
    ARCA = 3  # NYSE Arca, Pillar


class OrdType(enum.IntEnum):
    LIMIT = 1
    MARKET = 2


class TimeInForce(enum.IntEnum):
    DAY = 1
    IOC = 2


class EventType(enum.IntEnum):
    """Drop-copy event types (past tense: they happened in the core)."""

    ORDER_NEW = 1  # the firm originated an order and it passed the risk gate
    ORDER_ROUTED = 2  # sent to a venue (routed_id, session = what went on the wire)
    ORDER_ACKED = 3  # venue accepted
    ORDER_REPLACED = 4  # firm cancel/replace accepted by the gate: new order_id, orig_order_id = old
    ORDER_CANCEL_REQUESTED = 5  # firm asked the venue to cancel
    ORDER_CANCELLED = 6  # venue confirmed the cancel (reason tells firm/venue/expiry)
    ORDER_FILLED = 7  # a partial or full execution (last_qty, last_px, leaves_qty, exec_id)
    ORDER_REJECTED = 8  # blocked by the core's risk gate before leaving: reason code set, never routed
    ROUTE_REJECTED = 9  # the venue rejected a new order, replace or cancel
    ORDER_EXPIRED = 10  # time in force ran out (no CAT cancel event)
    KILL_STATE_CHANGED = 11  # account/symbol carry the scope key; qty = scope (KillScope index), price = level
    LIMITS_CHANGED = 12  # qty = new limits version
    ROLE_CHANGED = 13  # HA: this node's role changed (qty = HaRole)
    REPLACE_REJECTED = 14  # firm replace blocked by the gate (reason set); the old order stays working


KILL_SCOPE_CODES = {KillScope.FIRM: 0, KillScope.ACCOUNT: 1, KillScope.SYMBOL: 2, KillScope.VENUE: 3}


class EventFlag(enum.IntFlag):
    NONE = 0
    ISO = 1  # intermarket sweep order
    REPLAY = 2  # delivered by rewind, not live
    FROM_CANCEL_ALL = 4
    TAKEOVER = 8  # first event after an HA takeover
    FLATTEN = 16  # an order of the kill-to-flat flow (submit_orders `flatten`, §5)


class HaRole(enum.IntEnum):
    PRIMARY_ACTIVE = 1
    PRIMARY_PASSIVE = 2
    BACKUP_ACTIVE = 3
    BACKUP_PASSIVE = 4


# The drop-copy record. Fixed size, little-endian, no implicit padding; 128 bytes.
# Text fields are ASCII, NUL-padded. Decoding a batch is one numpy.frombuffer(buf, EVENT_DTYPE).
# EVENT_DTYPE and EVENT_SIZE are built on first access (PEP 562 module __getattr__) so that importing
# the protocol does not import numpy (~35 ms): `corectl kill` is a cold process on the on-call path.
EVENT_SIZE_BYTES = 128


def _build_event_dtype() -> np.dtype:
    import numpy as np

    dtype = np.dtype(
        [
            ("seq", "<u8"),  # 1-based, gapless within an epoch
            ("ts_ns", "<i8"),  # UTC nanoseconds since the Unix epoch, from the core's clock
            ("epoch", "<u4"),  # core session: bumps on every core restart/takeover that resets seq
            ("etype", "u1"),  # EventType
            ("side", "u1"),  # Side
            ("venue", "u1"),  # Venue
            ("flags", "u1"),  # EventFlag
            ("reason", "<u2"),  # ReasonCode numeric value (0 = OK)
            ("ord_type", "u1"),  # OrdType
            ("tif", "u1"),  # TimeInForce
            ("account", "S8"),
            ("symbol", "S8"),
            ("session", "S8"),  # venue session/port the route went out on (CAT `session`)
            ("qty", "<u4"),  # order quantity (shares)
            ("leaves_qty", "<u4"),
            ("last_qty", "<u4"),  # fill quantity on ORDER_FILLED
            ("price", "<i8"),  # limit price, PRICE_SCALE fixed point (0 for market orders)
            ("last_px", "<i8"),  # fill price on ORDER_FILLED
            ("order_id", "<u8"),  # the firm's order id (new id on replace)
            ("orig_order_id", "<u8"),  # on replace: the order it replaced
            ("routed_id", "<u8"),  # id sent to the venue (OUCH token / Pillar ClOrdID)
            ("venue_order_id", "<u8"),  # id the venue assigned on ack
            ("exec_id", "<u8"),  # venue execution id on fills
            ("clordid", "<u8"),  # strategy's client order id (idempotency of submissions)
        ]
    )
    assert dtype.itemsize == EVENT_SIZE_BYTES, dtype.itemsize
    return dtype


def event_dtype() -> np.dtype:
    """EVENT_DTYPE, built once and then cached as a plain module global."""
    g = globals()
    dtype = g.get("EVENT_DTYPE")
    if dtype is None:
        dtype = _build_event_dtype()
        g.update(EVENT_DTYPE=dtype, EVENT_SIZE=dtype.itemsize)
    return dtype


def __getattr__(name: str) -> Any:
    if name in ("EVENT_DTYPE", "EVENT_SIZE"):
        event_dtype()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Drop-copy/rewind header frame: version, epoch, first seq, record count, record size.
BATCH_HEADER = struct.Struct("<HIQIH")
BATCH_HEADER_SIZE = BATCH_HEADER.size


@dataclass(frozen=True, slots=True)
class BatchHeader:
    version: int
    epoch: int
    first_seq: int
    count: int
    record_size: int = EVENT_SIZE_BYTES

    def pack(self) -> bytes:
        return BATCH_HEADER.pack(self.version, self.epoch, self.first_seq, self.count, self.record_size)

    @classmethod
    def unpack(cls, buf: bytes) -> BatchHeader:
        if len(buf) != BATCH_HEADER_SIZE:
            raise ValueError(f"batch header is {len(buf)} bytes, expected {BATCH_HEADER_SIZE}")
        return cls(*BATCH_HEADER.unpack(buf))


def encode_batch(records: np.ndarray) -> tuple[bytes, bytes]:
    """Header + payload frames for a contiguous, ascending run of records of one epoch."""
    import numpy as np

    if records.dtype != event_dtype():
        raise TypeError(f"records must have EVENT_DTYPE, got {records.dtype}")
    if len(records) == 0:
        raise ValueError("empty batch")
    hdr = BatchHeader(STREAM_VERSION, int(records["epoch"][0]), int(records["seq"][0]), len(records))
    return hdr.pack(), np.ascontiguousarray(records).tobytes()


def decode_batch(header: bytes, payload: bytes) -> tuple[BatchHeader, np.ndarray]:
    """Validate and decode one batch; raises ValueError on anything malformed (never crashes a service)."""
    import numpy as np

    size = event_dtype().itemsize
    hdr = BatchHeader.unpack(header)
    if hdr.version != STREAM_VERSION:
        raise ValueError(f"unsupported stream version {hdr.version}")
    if hdr.record_size != size:
        raise ValueError(f"record size {hdr.record_size}, expected {size}")
    if hdr.count == 0 or len(payload) != hdr.count * size:
        raise ValueError(f"payload is {len(payload)} bytes for {hdr.count} records")
    recs = np.frombuffer(payload, dtype=event_dtype())
    seqs = recs["seq"]
    if int(seqs[0]) != hdr.first_seq or (hdr.count > 1 and not bool(np.all(np.diff(seqs) == 1))):
        raise ValueError("records are not a contiguous run starting at the header's first_seq")
    if not bool(np.all(recs["epoch"] == hdr.epoch)):
        raise ValueError("records span more than one epoch")
    return hdr, recs


def new_events(n: int) -> np.ndarray:
    import numpy as np

    return np.zeros(n, dtype=event_dtype())


def to_fixed(price: str | float | int) -> int:
    """Decimal text (or an exact int/float in tests) to PRICE_SCALE fixed point, rounding half-even."""
    from decimal import ROUND_HALF_EVEN, Decimal

    return int((Decimal(str(price)) * PRICE_SCALE).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_fixed(value: int) -> str:
    """Fixed point to exact decimal text without trailing zeros ("12.5", "0.0001", "10")."""
    from decimal import Decimal

    d = Decimal(int(value)) / PRICE_SCALE
    s = format(d.normalize(), "f")
    return s


# ---------------------------------------------------------------------------------------------------------
# Control frames


@dataclass(slots=True)
class Request:
    cmd: Command
    id: str
    operator: str
    reason: str
    expires_ns: int
    args: dict[str, Any] = field(default_factory=dict)
    v: int = PROTOCOL_VERSION
    durable_notify: bool = False  # v2: a follow-up frame (Reply.followup "durable") once an early ack is durable

    def encode(self) -> bytes:
        doc: dict[str, Any] = {"v": self.v, "cmd": self.cmd.value, "id": self.id, "operator": self.operator,
                               "reason": self.reason, "expires_ns": self.expires_ns, "args": self.args}
        if self.durable_notify:
            doc["durable_notify"] = True
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, frame: bytes) -> Request:
        """Parse a request frame; raises ValueError with what is wrong (the core replies MSG_MALFORMED)."""
        try:
            obj = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError("request is not a JSON object")
        for key, typ in (("v", int), ("cmd", str), ("id", str), ("operator", str), ("reason", str),
                         ("expires_ns", int)):
            if not isinstance(obj.get(key), typ) or isinstance(obj.get(key), bool):
                raise ValueError(f"field {key!r} missing or not {typ.__name__}")
        args = obj.get("args", {})
        if not isinstance(args, dict):
            raise ValueError("field 'args' is not an object")
        try:
            cmd = Command(obj["cmd"])
        except ValueError:
            raise ValueError(f"unknown command {obj['cmd']!r}") from None
        if not obj["id"] or len(obj["id"]) > 128:
            raise ValueError("field 'id' must be 1..128 characters")
        if not isinstance(notify := obj.get("durable_notify", False), bool):
            raise ValueError("field 'durable_notify' is not a boolean")
        return cls(cmd, obj["id"], obj["operator"], obj["reason"], obj["expires_ns"], args, obj["v"], notify)


@dataclass(slots=True)
class Reply:
    id: str
    ok: bool
    code: str  # a ReasonCode name
    state_version: int
    result: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    v: int = PROTOCOL_VERSION
    durable_version: int | None = None  # v2: the core's durable version when sent (None: v1, acks are durable)
    followup: str = ""  # v2: "durable" on the follow-up frame a `durable_notify` request gets (result {})

    @property
    def durable(self) -> bool:
        """The change this ack reports is durable on the core (v1 acks always are)."""
        return self.durable_version is None or self.durable_version >= self.state_version

    def encode(self) -> bytes:
        doc: dict[str, Any] = {"v": self.v, "id": self.id, "ok": self.ok, "code": self.code,
                               "state_version": self.state_version}
        if self.durable_version is not None:
            doc["durable_version"] = self.durable_version
        doc["result"] = self.result
        doc["message"] = self.message
        if self.followup:
            doc["followup"] = self.followup
        return orjson.dumps(doc)

    @classmethod
    def decode(cls, frame: bytes) -> Reply:
        obj = orjson.loads(frame)
        if not isinstance(obj, dict):
            raise ValueError("reply is not a JSON object")
        return cls(
            id=str(obj["id"]),
            ok=bool(obj["ok"]),
            code=str(obj["code"]),
            state_version=int(obj["state_version"]),
            result=dict(obj.get("result") or {}),
            message=str(obj.get("message", "")),
            v=int(obj.get("v", PROTOCOL_VERSION)),
            durable_version=None if obj.get("durable_version") is None else int(obj["durable_version"]),
            followup=str(obj.get("followup") or ""),
        )


# ---------------------------------------------------------------------------------------------------------
# Command arguments and results. Decimal amounts travel as strings ("1250000.50") so no float ever
# touches money; prices inside orders are decimal strings too and become PRICE_SCALE integers in the core.
# Kill levels and sides travel by enum *name*. `key` is null for the firm scope.
#
#   hello             {}                                   -> {protocol (the version of this exchange = the
#                                                              request's v), versions [every v served], core_id,
#                                                              node, epoch, identity, role}
#       an unserved v gets MSG_VERSION_UNSUPPORTED with result {versions}: the client retries with one of them.
#   status            {}                                   -> {node, ha_role ("active"|"passive"), trading_state (firm
#                                                              level name), kill {firm, account{}, symbol{}, venue{}},
#                                                              last_seq, epoch, limits_version, state_version,
#                                                              state_unknown, orders_working, uptime_s, core_time_ns,
#                                                              auth_failures, durable_version, start (see §3.8)}
#   snapshot          {}                                   -> status + {limits {"firm": {...}, "<acct>": {...}},
#                                                              temp_limits [{account, limits, until_ns, approved_by}],
#                                                              bp {acct: dec}, bp_as_of_ns, locates {sym: int},
#                                                              locates_date, restricted [sym], halts {sym: state},
#                                                              mwcb_level, positions {acct: {sym: int}},
#                                                              sod_date, accounts [acct]}
#   set_kill          {scope, key, level}                  -> {scope, key, level, previous}
#   cancel_all        {scope, key}                         -> {cancelled}
#   set_limits        {account|null, limits {...partial},  -> {limits_version, account, limits (effective)}
#                      approver, until_ns|null, approval?}    (approval: four eyes, docs/protocol.md)
#       limit keys: max_order_qty (int), max_order_notional (dec), price_collar_pct (dec, e.g. "5" = 5 %),
#                   duplicate_window_ms (int), max_orders_per_sec (int), credit_threshold (dec),
#                   gross_exposure_cap (dec), net_exposure_cap (dec)
#       until_ns: a temporary raise; at that time the core reverts to the values in force before it.
#   set_bp            {bp {acct: dec}, as_of_ns}           -> {accounts}
#   set_locates       {date, locates {sym: int}}           -> {symbols}   (replaces the day's availability)
#   set_restricted    {symbols [sym]}                      -> {symbols}   (replaces the list)
#   set_preborrow     {date, symbols {sym: int}}           -> {symbols, date}  (the whole 204(b) penalty box)
#   set_halts         {halts {sym: "HALTED"|"LULD_PAUSE"|"OPEN"}, mwcb_level 0..3} -> {halted, mwcb_level}
#   set_sod_positions {date, positions {acct: {sym: int}}} -> {accounts, positions}
#   submit_orders     {orders [{action "new"|"replace"|"cancel", clordid, account, symbol, side, qty,
#                      price (dec|null), ord_type "LIMIT"|"MARKET", tif "DAY"|"IOC", venue, order_id (replace/
#                      cancel)}]}                          -> {results [{clordid, order_id, ok, code}]}
#   sim (twin only)   {action "start_flow"|"stop_flow"|"end_of_day"|"stream", ...} (real core: MSG_UNKNOWN_COMMAND)
#   ha_status / ha_promote / ha_demote                     -> {node, ha_role, state (FSM state name), term,
#                                                              fenced, epoch, binary_star, peer_alive, peer_state,
#                                                              peer_term, peer_seen_ms, degraded,
#                                                              split_brain_refusals, last_split_brain}
#       ha_promote on a passive node whose peer is alive and active -> HA_SPLIT_BRAIN; a fenced node -> HA_FENCED.
#
# Every mutating command that is applied emits its event(s) on the drop copy (KILL_STATE_CHANGED,
# LIMITS_CHANGED, ...) and bumps state_version. A request whose `id` was already applied is not applied
# again: the core replays the original reply (same state_version; a v2 reply's durable_version is the
# core's value when the frame is sent, and a replay of an ack not yet durable waits as its original did).

# Rewind: {"v": STREAM_VERSION (1; 2 is accepted too), "epoch": E, "from_seq": N, "to_seq": M}. The core
# replies with zero or more [header, records] message pairs (at most REWIND_CHUNK records each) and ends
# with a one-frame JSON message {"end": true, "epoch": E, "last_seq": L, "code": "OK"|<ReasonCode>}.
REWIND_CHUNK = 8192
MAX_REWIND_SPAN = 5_000_000
