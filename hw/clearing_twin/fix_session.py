"""QuickFIX session settings for the clearer's drop-copy acceptor, and the ExecutionReports it sends.

The settings file is generated under the home (`<home>/clearing_twin/fix/acceptor.cfg`) so the FIX engine's
store (FileStore: sequence numbers and sent messages, kept across restarts) and logs sit next to it.
Field layout: docs/fix_dropcopy.md. Prices go on the wire as decimals from PRICE_SCALE fixed point, exactly.
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from pathlib import Path

from core_bridge.protocol import PRICE_SCALE, Side
from hw.clearing_twin.book import VENUE_MIC
from hw.clearing_twin.fault_plan import Report

BEGIN_STRING = "FIX.4.4"
CLEARER_COMP_ID = "CLEARER"
FIRM_COMP_ID = "COLOOPS"
EXEC_BROKER = "CLOP"  # our executing MPID as the clearer echoes it
CLEARING_FIRM = "0443"  # the clearer's DTC participant number (illustrative)
EXEC_TYPE = {"trade": "F", "bust": "H", "correct": "G"}
FIX_SIDE = {Side.BUY: "1", Side.SELL: "2", Side.SHORT: "5", Side.SHORT_EXEMPT: "6"}


@dataclass(frozen=True)
class SessionConfig:
    """One FIX session's settings; `text()` is the QuickFIX settings file."""

    connection_type: str  # acceptor | initiator
    sender: str
    target: str
    port: int
    store_dir: Path
    log_dir: Path
    host: str = "127.0.0.1"
    heartbeat_s: int = 30
    reconnect_s: int = 1

    def text(self) -> str:
        lines = [
            "[DEFAULT]",
            f"ConnectionType={self.connection_type}",
            f"FileStorePath={self.store_dir}",
            f"FileLogPath={self.log_dir}",
            # One session per UTC day: the FileStore (and both sides' sequence numbers) starts again at 1
            # each day, as a clearer's drop copy does; within the day every restart keeps them.
            "StartTime=00:00:00",
            "EndTime=00:00:00",
            "UseDataDictionary=N",
            "ResetOnLogon=N",
            "ResetOnLogout=N",
            "ResetOnDisconnect=N",
            "PersistMessages=Y",
            "ValidateLengthAndChecksum=Y",
            "TimestampPrecision=6",
            "",
            "[SESSION]",
            f"BeginString={BEGIN_STRING}",
            f"SenderCompID={self.sender}",
            f"TargetCompID={self.target}",
            f"HeartBtInt={self.heartbeat_s}",
        ]
        if self.connection_type == "acceptor":
            lines += [f"SocketAcceptPort={self.port}", f"SocketAcceptHost={self.host}"]
        else:
            lines += [f"SocketConnectPort={self.port}", f"SocketConnectHost={self.host}",
                      f"ReconnectInterval={self.reconnect_s}"]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text())
        return path


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (QuickFIX needs a number in its settings, not port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def fix_price(price: int) -> str:
    whole, frac = divmod(abs(price), PRICE_SCALE)
    return f"{'-' if price < 0 else ''}{whole}.{frac:04d}"


def fix_time(ts_ns: int) -> str:
    t = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=dt.UTC)
    return f"{t:%Y%m%d-%H:%M:%S}.{(ts_ns // 1000) % 1_000_000:06d}"


def report_fields(r: Report, trade_date: dt.date) -> list[tuple[int, str]]:
    """The body of the ExecutionReport for `r`, tag by tag, in the order they go on the wire."""
    f = r.fill
    qty = str(r.qty)
    fields = [
        (37, str(f.order_id)), (11, str(f.order_id)), (17, r.exec_id), (150, EXEC_TYPE[r.kind]),
        (39, "2"), (1, r.account), (76, EXEC_BROKER), (439, CLEARING_FIRM), (440, r.clearing_account),
        (55, f.symbol), (54, FIX_SIDE[f.side]), (32, qty), (31, fix_price(r.price)), (14, qty), (151, "0"),
        (6, fix_price(r.price)), (60, fix_time(f.ts_ns)), (30, VENUE_MIC.get(f.venue, "XNAS")),
        (75, f"{trade_date:%Y%m%d}"),
    ]
    if r.kind != "trade":
        fields.insert(3, (19, r.ref_exec_id))
    return fields


def report_message(r: Report, trade_date: dt.date) -> str:
    """The ExecutionReport as a FIX string for `quickfix.Message(s, False)`: the engine fills in the header
    (sequence number, sending time) and recomputes BodyLength and CheckSum when it sends. Building the string
    here and parsing it once costs a tenth of setting 20 fields one by one through the binding."""
    head = "8=FIX.4.4\x019=0\x0135=8\x01" + ("97=Y\x01" if r.resend else "")
    return head + "".join(f"{t}={v}\x01" for t, v in report_fields(r, trade_date)) + "10=000\x01"
