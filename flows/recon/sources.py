"""Readers for the three reconciliation sources, each failing closed with ReconError.

- Clearer: the EOD positions file (fixed width, parsed by flows.sources.positions_format) and the trade file
  (CSV, columns as docs/clearing_formats.md and hw/clearing_twin/files.py define them), fetched from the
  configured FileSource exactly like the SOD files (outgoing/YYYYMMDD/<kind>_YYYYMMDD.<ext>).
- Core: the `snapshot` command's `positions` (CoreClient), or a snapshot JSON file (the twin for this one
  command, `recon.core_source = "file:<path>"`).
- Corporate-action notices: an optional CSV (`recon.corporate_actions_file`, frames.CORP_ACTION_COLUMNS).

A missing file, an unreadable one, a core that does not answer: the run fails. Never "everything is flat".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson
import pandas as pd

from core_bridge.protocol import to_fixed
from flows.errors import FileRejectedError, OpsError, ReconError
from flows.recon.frames import (
    CLEARING_POSITION_COLUMNS,
    CLEARING_TRADE_COLUMNS,
    CORP_ACTION_COLUMNS,
    conform,
    empty,
)
from flows.sources.sftp import FileSource

TRADE_REQUIRED = ("timestamp", "date", "account_id", "quantity", "price", "instrument.identifier",
                  "instrument.cusip", "side.direction", "order_id", "exec_id", "settlement.date")


def remote_path(kind: str, day: dt.date) -> str:
    ext = {"trades": "csv"}.get(kind, "txt")
    return f"outgoing/{day:%Y%m%d}/{kind}_{day:%Y%m%d}.{ext}"


def _ymd(text: str, path: Path, line: int, field: str) -> str:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date().isoformat()  # noqa: DTZ007 - a date, no time
    except ValueError:
        raise FileRejectedError(path, f"bad date {text!r}", line=line, field=field) from None


def parse_trades(path: Path, raw: bytes | None = None, business_date: dt.date | None = None) -> pd.DataFrame:
    """The clearer's trade file as frames.CLEARING_TRADE_COLUMNS (account = the clearer's account number).

    Structural checks first (ASCII, LF only, final LF), then the `#TRADES` header record (clearer, firm,
    business date = `business_date` when given) and the `#EOF` trailer (record count, Σ quantity)."""
    from flows.sources.envelope import check_totals, parse_envelope
    from flows.sources.structural import check_text

    raw = path.read_bytes() if raw is None else raw
    idx = check_text(raw, path)
    lines = [idx.text(i) for i in range(len(idx))]
    env = parse_envelope(lines, path, "TRADES", business_date)
    if len(lines) < 3 or not lines[1].strip():
        raise FileRejectedError(path, "no column header row", line=2, field="header")
    cols = [h.strip().lower() for h in next(csv.reader([lines[1]]))]
    missing = [c for c in TRADE_REQUIRED if c not in cols]
    if missing:
        raise FileRejectedError(path, f"missing column(s) {', '.join(missing)}", line=2, field=missing[0])
    at = {c: cols.index(c) for c in TRADE_REQUIRED}
    rows: list[dict[str, Any]] = []
    total = 0
    for line_no, rec in enumerate(csv.reader(io.StringIO("\n".join(lines[2:-1]))), start=3):
        if not rec:
            raise FileRejectedError(path, "empty record", line=line_no)
        if len(rec) != len(cols):
            raise FileRejectedError(path, f"{len(rec)} fields, header has {len(cols)}", line=line_no)
        v = {c: rec[i].strip() for c, i in at.items()}
        direction = v["side.direction"].lower()
        if direction not in ("buy", "sell"):
            raise FileRejectedError(path, f"side must be buy or sell, got {v['side.direction']!r}", line=line_no,
                                    field="side.direction")
        try:
            qty = int(v["quantity"])
            ts_ms = int(v["timestamp"])
        except ValueError:
            field = "quantity" if not v["quantity"].lstrip("-").isdigit() else "timestamp"
            raise FileRejectedError(path, f"not an integer: {v[field]!r}", line=line_no, field=field) from None
        if qty <= 0:
            raise FileRejectedError(path, f"quantity must be positive, got {qty}", line=line_no, field="quantity")
        try:
            price = to_fixed(v["price"])
        except ArithmeticError:
            raise FileRejectedError(path, f"not a price: {v['price']!r}", line=line_no, field="price") from None
        if not v["exec_id"]:
            raise FileRejectedError(path, "empty exec_id", line=line_no, field="exec_id")
        total += qty
        rows.append({
            "exec_id": v["exec_id"], "order_id": v["order_id"], "account": v["account_id"],
            "cusip": v["instrument.cusip"], "symbol": v["instrument.identifier"],
            "side": 1 if direction == "buy" else -1, "qty": qty, "price": price, "ts_ns": ts_ms * 1_000_000,
            "trade_date": _ymd(v["date"], path, line_no, "date"),
            "settle_date": _ymd(v["settlement.date"], path, line_no, "settlement.date"),
        })
    check_totals(env, path, len(rows), total, "quantity")
    if not rows:
        return empty(CLEARING_TRADE_COLUMNS)
    return conform(pd.DataFrame(rows), CLEARING_TRADE_COLUMNS, path.name)


def _to_core_accounts(frame: pd.DataFrame, accounts: Mapping[str, str], what: str) -> pd.DataFrame:
    unknown = sorted(set(frame["account"]) - set(accounts))
    if unknown:
        raise ReconError(f"{what}: clearing account(s) {', '.join(unknown)} are not the firm's")
    return frame.assign(account=frame["account"].map(accounts).astype("str"))


def read_clearing(source: FileSource, day: dt.date, inbox: Path, accounts: Mapping[str, str], *,
                  home: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(EOD positions, trades) for `day`, accounts mapped to the core's codes. Fails closed on anything.

    A file that fails its checks (FileRejectedError: structure, header, trailer) is moved to
    `home`/quarantine/<date>/ like a rejected SOD file (when `home` is given) and the run fails naming the
    line and field."""
    from flows.clearing.ingest import quarantine
    from flows.sources.positions_format import check_header, parse_positions

    dest = inbox / f"{day:%Y%m%d}" / "recon"
    out = []
    for kind in ("eod_positions", "trades"):
        remote = remote_path(kind, day)
        fetched = None
        try:
            fetched = source.fetch(remote, dest)
            if kind == "eod_positions":
                pf = parse_positions(fetched.local)
                check_header(pf, "EOD", day)
                if pf.detail_count != len(pf):
                    raise FileRejectedError(fetched.local, f"trailer count {pf.detail_count} but {len(pf)} detail "
                                            "records", line=len(pf) + 2, field="detail_count")
                c = pf.columns
                from flows.sources.expectations import exact_sum

                if exact_sum(c["td_quantity"]) != pf.control_total:
                    raise FileRejectedError(fetched.local, f"trailer control total {pf.control_total} but the "
                                            f"td_quantity sum is {exact_sum(c['td_quantity'])}", line=len(pf) + 2,
                                            field="control_total")
                frame = pd.DataFrame({"account": c["account"], "cusip": c["cusip"], "td_qty": c["td_quantity"],
                                      "sd_qty": c["sd_quantity"]})
                frame = conform(frame, CLEARING_POSITION_COLUMNS, fetched.name)
            else:
                frame = parse_trades(fetched.local, business_date=day)
        except FileRejectedError as exc:
            where = ""
            if home is not None and fetched is not None and fetched.local.exists():
                where = f" (quarantined at {quarantine(fetched.local, home, day)})"
            raise ReconError(f"clearing {kind} for {day}: {exc}{where}") from exc
        except ReconError:
            raise
        except OpsError as exc:  # SourceError (missing/unreachable), FileRejectedError (unreadable)
            raise ReconError(f"clearing {kind} for {day}: {exc}") from exc
        except OSError as exc:
            raise ReconError(f"clearing {kind} for {day}: {exc}") from exc
        out.append(_to_core_accounts(frame, accounts, remote))
    return out[0], out[1]


class SnapshotPort(Protocol):
    def snapshot(self) -> Any: ...


class SnapshotFile:
    """The core's `snapshot` reply read from a JSON file (a twin for recon's one command)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def snapshot(self) -> dict[str, Any]:
        try:
            obj = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ReconError(f"core snapshot file {self.path}: {exc}") from exc
        return {"ok": True, "result": obj}


def core_positions(port: SnapshotPort) -> dict[str, dict[str, int]]:
    """`positions` from the core's snapshot; no answer or a refusal fails the run."""
    try:
        reply = port.snapshot()
    except ReconError:
        raise
    except Exception as exc:  # the client raises its own errors on timeouts/refusals: all mean "no source"
        raise ReconError(f"core snapshot failed: {type(exc).__name__}: {exc}") from exc
    ok = reply.get("ok") if isinstance(reply, dict) else getattr(reply, "ok", False)
    result = reply.get("result") if isinstance(reply, dict) else getattr(reply, "result", None)
    if not ok or not isinstance(result, dict):
        raise ReconError(f"core snapshot refused: {getattr(reply, 'code', '')} {getattr(reply, 'message', '')}")
    positions = result.get("positions")
    if not isinstance(positions, dict):
        raise ReconError("core snapshot has no positions object")
    return {str(a): {str(s): q for s, q in h.items()} for a, h in positions.items()}


def read_corporate_actions(path: Path | None) -> pd.DataFrame:
    if path is None:
        return empty(CORP_ACTION_COLUMNS)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ReconError(f"corporate actions file {path}: {exc}") from exc
    return conform(frame, CORP_ACTION_COLUMNS, path.name)
