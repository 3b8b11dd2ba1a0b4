"""Pre-open readiness: is the core fit to trade today? Pure checks over `status` and `snapshot` replies.

Fail closed: anything unknown is a finding. A finding with severity "fail" fails the preopen-check flow,
which alerts the on-call engineer before 09:30.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_CLOCK_SKEW_NS = 50_000_000  # 50 ms; CAT wants ms-level clock sync, the core is PTP-disciplined
MAX_HEARTBEAT_AGE_MS = 1_000


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # "fail" | "warn" | "ok"
    detail: str


def preopen_findings(
    status: dict[str, Any],
    snapshot: dict[str, Any],
    *,
    date: str,
    accounts: list[str],
    now_ns: int,
    heartbeat_age_ms: float | None,
    expected_firm_level: str = "ACTIVE",
) -> list[Finding]:
    out: list[Finding] = []

    def add(check: str, ok: bool, detail: str, severity: str = "fail") -> None:
        out.append(Finding(check, "ok" if ok else severity, detail))

    add("core-state-known", not status.get("state_unknown", True), f"state_unknown={status.get('state_unknown')}")
    add("core-active-node", status.get("ha_role") == "active", f"ha_role={status.get('ha_role')}")
    level = (status.get("kill") or {}).get("firm", status.get("trading_state"))
    add("kill-firm-level", level == expected_firm_level, f"firm level {level}, expected {expected_firm_level}")
    for scope in ("account", "symbol", "venue"):
        blocked = {k: v for k, v in ((status.get("kill") or {}).get(scope) or {}).items() if v != "ACTIVE"}
        add(f"kill-{scope}-levels", not blocked, f"non-ACTIVE {scope} levels: {blocked or 'none'}", severity="warn")
    add("limits-loaded", int(status.get("limits_version") or 0) > 0, f"limits_version={status.get('limits_version')}")
    bp = snapshot.get("bp") or {}
    missing_bp = [a for a in accounts if a not in bp]
    add("bp-loaded", not missing_bp, f"accounts without BP: {missing_bp or 'none'}")
    add("locates-loaded", snapshot.get("locates_date") == date, f"locates_date={snapshot.get('locates_date')}")
    add("sod-positions-loaded", snapshot.get("sod_date") == date, f"sod_date={snapshot.get('sod_date')}")
    core_ns = int(status.get("core_time_ns") or 0)
    skew = abs(now_ns - core_ns) if core_ns else None
    add("clock-sync", skew is not None and skew <= MAX_CLOCK_SKEW_NS,
        f"skew {skew / 1e6:.3f} ms" if skew is not None else "core_time_ns missing")
    add(
        "heartbeat",
        heartbeat_age_ms is not None and heartbeat_age_ms <= MAX_HEARTBEAT_AGE_MS,
        f"heartbeat age {heartbeat_age_ms} ms",
    )
    return out


def failed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "fail"]


def to_markdown(date: str, findings: list[Finding]) -> str:
    lines = [f"# Pre-open check {date}", "", "| check | result | detail |", "|---|---|---|"]
    for f in findings:
        lines.append(f"| {f.check} | {f.severity.upper()} | {f.detail} |")
    return "\n".join(lines) + "\n"
