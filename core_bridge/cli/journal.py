"""`corectl journal verify|tail|stats|seal` and `corectl capture`: thin wiring over core_bridge.journal and
core_bridge.dropcopy.

Public names: `journal_app` (a typer.Typer, mounted as `corectl journal`) and `capture_command` (a plain
function with typer-annotated parameters, registered as `corectl capture`); `core_bridge.cli.app` imports
this module only when the argv may name them. Imports stay light: numpy/zmq load inside the commands so
`corectl --help` starts fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

journal_app = typer.Typer(help="The drop-copy journal: verify, tail, stats, seal.", no_args_is_help=True)

_DIR = typer.Option(None, "--dir", help="journal directory (default: <COLO_OPS_HOME>/journal)")
_HOME = typer.Option(None, "--home", help="COLO_OPS_HOME (default: settings)")
_JSON = typer.Option(False, "--json", help="print one JSON object")


def register(app: typer.Typer) -> None:
    app.command("capture")(capture_command)
    app.add_typer(journal_app, name="journal")


def _wants_json(ctx: typer.Context, flag: bool) -> bool:
    """A root-level --json (corectl --json ...) lands in ctx.obj; the command's own --json works too."""
    obj = ctx.find_root().obj
    return flag or (isinstance(obj, dict) and bool(obj.get("json")))


def _paths(home: Path | None, journal_dir: Path | None) -> tuple[Path, Path]:
    from core_bridge.settings import load_settings

    s = load_settings(home)
    return (journal_dir or s.journal_dir), s.run_dir


def _emit(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, default=str) + "\n")


@journal_app.command("verify")
def verify_cmd(ctx: typer.Context, journal_dir: Path | None = _DIR, home: Path | None = _HOME,
               json_out: bool = _JSON) -> None:
    """Check every record CRC, sequence, seal and chain link; exit 1 naming the first damaged place."""
    from core_bridge.journal.verify import verify

    jdir, _ = _paths(home, journal_dir)
    if not jdir.is_dir():
        typer.echo(f"journal directory not found: {jdir}", err=True)
        raise typer.Exit(2)
    rep = verify(jdir)
    if _wants_json(ctx, json_out):
        _emit(rep.to_dict())
    else:
        last = f"epoch {rep.last[0]} seq {rep.last[1]}" if rep.last else "empty"
        typer.echo(f"{jdir}: {rep.segments} segment(s), {rep.sealed} sealed, {rep.records} records, last {last}")
        for p in rep.problems:
            typer.echo(f"DAMAGED {p.kind}: {p.where()}: {p.message}")
        if rep.unsettled_bytes:
            typer.echo(f"note: {rep.unsettled_bytes} bytes past the durable watermark in the active segment "
                       "(being written, or a torn tail the next open truncates)")
        if rep.ok:
            typer.echo("OK: every record CRC, sequence, seal and chain link verified")
    if not rep.ok:
        raise typer.Exit(1)


@journal_app.command("tail")
def tail_cmd(ctx: typer.Context, count: int = typer.Option(20, "-n", "--count", min=1, max=100_000),
             journal_dir: Path | None = _DIR, home: Path | None = _HOME, json_out: bool = _JSON) -> None:
    """The last N journal records (times in America/New_York)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    import numpy as np

    from core_bridge.journal.reader import read_segment
    from core_bridge.journal.segment import list_segments
    from core_bridge.protocol import EventType, Side, Venue, from_fixed

    jdir, _ = _paths(home, journal_dir)
    parts: list[np.ndarray] = []
    have = 0
    for *_meta, path in reversed(list_segments(jdir)):
        recs = read_segment(path)
        parts.insert(0, recs)
        have += len(recs)
        if have >= count:
            break
    recs = np.concatenate(parts)[-count:] if parts else np.zeros(0)
    ny = ZoneInfo("America/New_York")
    rows = []
    r: Any
    for r in recs:
        ts = datetime.fromtimestamp(int(r["ts_ns"]) // 1_000_000_000, tz=UTC).astimezone(ny)
        rows.append({
            "epoch": int(r["epoch"]), "seq": int(r["seq"]),
            "time": ts.strftime("%Y-%m-%d %H:%M:%S") + f".{int(r['ts_ns']) % 1_000_000_000:09d}",
            "etype": _name(EventType, int(r["etype"])), "account": r["account"].decode(errors="replace"),
            "symbol": r["symbol"].decode(errors="replace"), "side": _name(Side, int(r["side"])),
            "venue": _name(Venue, int(r["venue"])), "qty": int(r["qty"]), "price": from_fixed(int(r["price"])),
            "last_qty": int(r["last_qty"]), "last_px": from_fixed(int(r["last_px"])), "order_id": int(r["order_id"]),
            "reason": int(r["reason"]),
        })
    if _wants_json(ctx, json_out):
        _emit({"journal_dir": str(jdir), "records": rows})
        return
    for row in rows:
        typer.echo(" ".join(f"{k}={v}" for k, v in row.items()))


def _name(enum_cls: Any, value: int) -> str:
    try:
        return str(enum_cls(value).name)
    except ValueError:
        return str(value)


@journal_app.command("stats")
def stats_cmd(ctx: typer.Context, journal_dir: Path | None = _DIR, home: Path | None = _HOME,
              positions: bool = typer.Option(False, "--positions", help="include every account/symbol row"),
              json_out: bool = _JSON) -> None:
    """Segments, records, durable watermark, the running capture's rate/lag and the post-trade view."""
    from core_bridge.journal.segment import list_segments, read_durable

    jdir, run_dir = _paths(home, journal_dir)
    segs = list_segments(jdir)
    size = sum(p.stat().st_size for *_m, p in segs)
    doc: dict[str, Any] = {
        "journal_dir": str(jdir),
        "segments": len(segs),
        "sealed": sum(1 for s in segs if s[3]),
        "epochs": sorted({s[1] for s in segs}),
        "bytes": size,
        "durable": read_durable(jdir),
        "capture": _read_json(run_dir / "capture.json"),
    }
    if positions:
        doc["positions"] = (_read_json(run_dir / "positions.json") or {}).get("positions")
    if _wants_json(ctx, json_out):
        _emit(doc)
        return
    d = doc["durable"] or {}
    typer.echo(f"journal {jdir}: {doc['segments']} segment(s) ({doc['sealed']} sealed), {size:,} bytes, "
               f"epochs {doc['epochs']}, durable epoch {d.get('epoch')} seq {d.get('seq')}")
    cap = doc["capture"]
    if cap:
        st = cap["stats"]
        typer.echo(f"capture pid {cap['pid']}: at {cap['epoch']}/{cap['last_seq']}, {cap['rate_eps']:,.0f} events/s, "
                   f"lag {cap['lag_events']}, gaps {st['gaps']}, rewinds {st['rewinds']}, "
                   f"malformed {st['malformed']}, duplicates {st['duplicates']}")
        for acct, v in cap["post_trade"]["accounts"].items():
            typer.echo(f"  {acct}: gross {v['gross_exposure']} net {v['net_exposure']} "
                       f"open positions {v['open_positions']}")
    else:
        typer.echo("capture: no status file (not running here)")
    for row in doc.get("positions") or []:
        typer.echo(f"  {row['account']} {row['symbol']} net {row['net_qty']} exposure {row['exposure']}")


@journal_app.command("seal")
def seal_cmd(ctx: typer.Context, journal_dir: Path | None = _DIR, home: Path | None = _HOME,
             timeout: float = typer.Option(10.0, "--timeout", help="seconds to wait for a running capture"),
             json_out: bool = _JSON) -> None:
    """Seal the active segment (end of day); asks a running capture to do it if one holds the journal."""
    from core_bridge.errors import JournalError
    from core_bridge.journal.seal import seal_journal

    jdir, _ = _paths(home, journal_dir)
    try:
        info = seal_journal(jdir, timeout_s=timeout)
    except JournalError as exc:
        typer.echo(f"seal failed: {exc}", err=True)
        raise typer.Exit(1) from None
    doc = None if info is None else {"segment": info.path.name, "epoch": info.epoch, "first_seq": info.first_seq,
                                     "last_seq": info.last_seq, "count": info.count,
                                     "seal_hash": (info.seal_hash or b"").hex()}
    if _wants_json(ctx, json_out):
        _emit({"sealed": doc})
    else:
        typer.echo("nothing to seal" if doc is None else
                   f"sealed {doc['segment']}: epoch {doc['epoch']} seq {doc['first_seq']}..{doc['last_seq']} "
                   f"sha256 {doc['seal_hash']}")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None


def capture_command(
    home: Path | None = _HOME,
    node: str = typer.Option("primary", "--node", help="core node: primary|standby"),
    dropcopy: str | None = typer.Option(None, "--dropcopy", help="drop-copy endpoint (default: settings)"),
    rewind: str | None = typer.Option(None, "--rewind", help="rewind endpoint (default: settings)"),
    control: str | None = typer.Option(None, "--control", help="control endpoint for hello (default: settings)"),
    keys: Path | None = typer.Option(None, "--keys", help="keys directory (default: <home>/keys)"),
    journal_dir: Path | None = _DIR,
    sub_hwm: int = typer.Option(0, "--sub-hwm", help="SUB receive high-water mark in messages (0: default)"),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="stop after this long"),
) -> None:
    """Capture the core's drop copy into the journal until SIGTERM/Ctrl-C (status: <home>/run/capture.json)."""
    from core_bridge.dropcopy.config import CaptureConfig
    from core_bridge.dropcopy.service import run_capture

    cfg = CaptureConfig.from_home(home, node, dropcopy_endpoint=dropcopy, rewind_endpoint=rewind,
                                  control_endpoint=control, keys_dir=keys,
                                  journal_dir=journal_dir, sub_hwm=sub_hwm or None)
    stats = run_capture(cfg, max_seconds=max_seconds)
    typer.echo(f"capture stopped: appended {stats.appended}, gaps {stats.gaps}, rewinds {stats.rewinds}, "
               f"malformed {stats.malformed}", err=True)
