"""Find the records to archive under COLO_OPS_HOME and give each a record kind and business date.

Tolerant of a source that does not exist yet (other flows may not have run): its absence is reported, not an
error. Never silently skips a present file: every file found is either a request, or listed in `skipped`
with why (a temp name still being written, or the journal's active segment).

Sources and kinds (kinds map to classes in retention_policy.toml):
    journal/*.seg (sealed segments, via core_bridge.journal)   journal_segment
    inbox/**, quarantine/** (files as received)                 sod_positions, eod_positions, balances,
                                                                clearing_trades, borrow_list, threshold_list,
                                                                inbox_other
    audit/**                                                    control_audit, limit_change (name has "limit")
    clocksync/** (the clock-sync log, core_bridge/clocksync.py)  clock_sync_log
    reports/<YYYY-MM-DD>/cat/**                                 cat_file, cat_metadata, cat_feedback, cat_report
    reports/<YYYY-MM-DD>/recon/**                               recon_report, recon_signoff (name has "signoff")
    reports/<YYYY-MM-DD>/{locates,regsho}/**                    locate_log, regsho_report
    reports/<YYYY-MM-DD>/ha/**                                  ha_drill_report
    reports/<YYYY-MM-DD>/clock/**                               clock_report
    reports/<YYYY-MM-DD>/kills/**                               kill_report (kill-to-flat timelines)
    reports/<YYYY-MM-DD>/controls/**                            controls_report (daily 15c3-5 controls evidence)
    reports/<YYYY-MM-DD>/compliance/**                          compliance_report (control verification, review pack)
    reports/<YYYY-MM-DD>/retention/**                           retention_attestation
    reports/<YYYY-MM-DD>/** (anything else)                     daily_report

Business date: the YYYY-MM-DD report directory; else a YYYYMMDD / YYYY-MM-DD in the file name or its parent
directories; else, for journal segments, the New York date the segment was sealed; else the New York date of
the file's modification time (the latest plausible date, so retention is never shortened).
Reports of dates after the run date are left for a later run (listed in `skipped`). The journal's own
bookkeeping files (`durable.json`, `.lock`, `*.tmp`) are not records and are passed over by name.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flows.archive.archive import ArchiveRequest, ny_date
from flows.dates import NY

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)")
IN_PROGRESS = (".part", ".tmp", ".partial", ".open", ".lock")
KINDS = (  # every kind this module produces; retention_policy.toml must map each (a test checks it)
    "journal_segment", "sod_positions", "eod_positions", "balances", "clearing_trades", "borrow_list",
    "threshold_list", "inbox_other", "control_audit", "limit_change", "cat_file", "cat_metadata", "cat_feedback",
    "cat_report", "recon_report", "recon_signoff", "locate_log", "regsho_report", "ha_drill_report",
    "retention_attestation", "daily_report", "kill_report", "controls_report", "compliance_report",
    "clock_sync_log", "clock_report", "fails_to_deliver",
)
CAT_FEEDBACK = re.compile(r"feedback|\.err\b|_err|ack", re.IGNORECASE)


@dataclass
class Discovery:
    requests: list[ArchiveRequest] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, why)
    absent_sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _date_in(text: str) -> dt.date | None:
    for rx in (_ISO, _COMPACT):
        for m in rx.finditer(text):
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                continue
    return None


def _mtime_date(path: Path) -> dt.date:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).astimezone(NY).date()


def _files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _in_progress(path: Path) -> bool:
    return path.name.startswith(".") or path.name.endswith(IN_PROGRESS)


def inbox_kind(name: str) -> str:
    n = name.lower()
    if n.startswith("sod_positions") or n.startswith("sod"):
        return "sod_positions"
    if n.startswith("eod_positions") or n.startswith("eod"):
        return "eod_positions"
    if n.startswith("balances"):
        return "balances"
    if n.startswith("trades"):
        return "clearing_trades"
    if n.startswith("cns_ftd"):
        return "fails_to_deliver"
    if n.startswith(("etb", "preborrow", "pre_borrow", "htb")):
        return "borrow_list"
    if re.search(r"th\d{8}\.txt$", n):
        return "threshold_list"
    return "inbox_other"


def report_kind(section: str, name: str) -> str:
    n = name.lower()
    if section == "cat":
        if CAT_FEEDBACK.search(n):
            return "cat_feedback"
        if n.endswith(".meta.json"):
            return "cat_metadata"
        if "orderevents" in n:
            return "cat_file"
        return "cat_report"
    if section == "recon":
        return "recon_signoff" if "signoff" in n or "sign-off" in n or "sign_off" in n else "recon_report"
    if section in ("locates", "locate", "regsho"):
        return "locate_log" if "locate" in n and "report" not in n else "regsho_report"
    if section == "ha":
        return "ha_drill_report"
    if section == "clock":
        return "clock_report"
    if section == "kills":
        return "kill_report"
    if section == "controls":
        return "controls_report"
    if section == "compliance":
        return "compliance_report"
    if section == "retention":
        return "retention_attestation"
    return "daily_report"


JOURNAL_BOOKKEEPING = {"durable.json", ".lock"}  # the journal's watermark hint and writer lock: not records


def _journal(home: Path, journal_dir: Path, d: Discovery) -> None:
    if not journal_dir.is_dir():
        d.absent_sources.append(str(journal_dir))
        return
    sealed: dict[Path, dt.date | None] = {p: None for p in journal_dir.glob("*.seg")}  # the documented suffix
    try:
        from core_bridge import journal as jr  # the journal owns what "sealed" means and when it was sealed

        for info in jr.iter_sealed_segments(journal_dir):
            with info.path.open("rb") as fh:
                fh.seek(-jr.TRAILER_SIZE, os.SEEK_END)
                sealed[info.path] = ny_date(jr.parse_trailer(fh.read(jr.TRAILER_SIZE), info.path).sealed_ns)
    except ImportError:
        d.warnings.append("core_bridge.journal not available: sealed segments found by their .seg suffix")
    except Exception as exc:  # a damaged segment is still a record: archive it as is, and say so
        d.warnings.append(f"journal reader failed ({type(exc).__name__}: {exc}); .seg files archived as found")
    for path in _files(journal_dir):
        source = _rel(path, home)
        if path in sealed:
            day = sealed[path] or _date_in(path.name) or _mtime_date(path)
            d.requests.append(ArchiveRequest(path, source, "journal_segment", day))
        elif path.name in JOURNAL_BOOKKEEPING or path.name.endswith(".tmp"):
            continue
        else:
            d.skipped.append((source, "not a sealed journal segment (active or unknown)"))


def _rel(path: Path, home: Path) -> str:
    try:
        return path.relative_to(home).as_posix()
    except ValueError:
        return path.as_posix()


def discover(home: Path, run_date: dt.date, journal_dir: Path | None = None) -> Discovery:
    """Everything under `home` that is a record and complete, for business dates up to `run_date`."""
    d = Discovery()
    _journal(home, journal_dir or home / "journal", d)

    for sub in ("inbox", "quarantine"):
        root = home / sub
        if not root.is_dir():
            d.absent_sources.append(str(root))
            continue
        for path in _files(root):
            source = _rel(path, home)
            if _in_progress(path):
                d.skipped.append((source, "temporary name (still being written)"))
                continue
            day = _date_in(source) or _mtime_date(path)
            d.requests.append(ArchiveRequest(path, source, inbox_kind(path.name), day))

    audit = home / "audit"
    if not audit.is_dir():
        d.absent_sources.append(str(audit))
    else:
        for path in _files(audit):
            source = _rel(path, home)
            if _in_progress(path):
                d.skipped.append((source, "temporary name (still being written)"))
                continue
            kind = "limit_change" if "limit" in path.name.lower() else "control_audit"
            day = _date_in(path.name) or _mtime_date(path)
            d.requests.append(ArchiveRequest(path, source, kind, day))

    clock = home / "clocksync"  # appended to all day: a file is complete once its New York date has passed
    if not clock.is_dir():
        d.absent_sources.append(str(clock))
    else:
        for path in _files(clock):
            source = _rel(path, home)
            day = _date_in(path.name) or _mtime_date(path)
            if _in_progress(path) or day >= run_date:
                d.skipped.append((source, "temporary name (still being written)" if _in_progress(path)
                                  else f"clock-sync log of {day} still being appended (run date {run_date})"))
                continue
            d.requests.append(ArchiveRequest(path, source, "clock_sync_log", day))

    reports = home / "reports"
    if not reports.is_dir():
        d.absent_sources.append(str(reports))
        return d
    for day_dir in sorted(reports.iterdir()):
        source_dir = _rel(day_dir, home)
        rday: dt.date | None = None
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day_dir.name):
            rday = _date_in(day_dir.name)
        if rday is None or not day_dir.is_dir():
            # not a business-date directory: archive its files too, dated by name or mtime
            for path in [day_dir] if day_dir.is_file() else list(_files(day_dir)):
                source = _rel(path, home)
                if _in_progress(path):
                    d.skipped.append((source, "temporary name (still being written)"))
                    continue
                pday = _date_in(source) or _mtime_date(path)
                d.requests.append(ArchiveRequest(path, source, "daily_report", pday))
            continue
        if rday > run_date:
            d.skipped.append((source_dir, f"business date after the run date {run_date}"))
            continue
        for path in _files(day_dir):
            source = _rel(path, home)
            if _in_progress(path):
                d.skipped.append((source, "temporary name (still being written)"))
                continue
            parts = path.relative_to(day_dir).parts
            section = parts[0].lower() if len(parts) > 1 else ""
            d.requests.append(ArchiveRequest(path, source, report_kind(section, path.name), rday))
    return d
