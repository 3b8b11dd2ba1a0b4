"""Run the rules against one core and collect a `SuiteReport`.

The order is fixed: the handshake first (a core that does not answer `hello` is unreachable, not
non-conforming: `Unreachable`), the control rules, the stream rules, and the restart last (it replaces the
process the others talked to). `only` runs a subset by name, in the same order.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core_bridge.conformance import rules_control as rc
from core_bridge.conformance import rules_stream as rs
from core_bridge.conformance.peer import Peer
from core_bridge.conformance.result import Rule, RuleResult, Status
from core_bridge.conformance.session import CONTROL_VERSIONS, Config, Session

RULES: tuple[Rule, ...] = (
    rc.handshake,
    rc.unknown_key,
    rc.role_refusal,
    rc.idempotent_retry,
    rc.levels_set_not_toggled,
    rc.cancels_never_blocked,
    rc.flatten_orders,
    rc.expiry,
    rc.malformed_frames,
    rs.heartbeat_cadence,
    rs.dropcopy_continuity,
    rs.rewind_in_range,
    rs.rewind_out_of_range,
    rs.restart,
)
RULE_NAMES: tuple[str, ...] = tuple(r.rule_name for r in RULES)  # type: ignore[attr-defined]


class Unreachable(Exception):
    """The core did not answer `hello` (monitor key) before the deadline."""


@dataclass
class SuiteReport:
    endpoints: dict[str, str]
    core: dict[str, Any]
    started_ns: int
    seconds: float = 0.0
    results: list[RuleResult] = field(default_factory=list)
    restart_command: str = ""
    version: int = 0  # the control version the suite spoke (negotiated)

    @property
    def ok(self) -> bool:
        return not any(r.status is Status.FAIL for r in self.results)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(r.status is s for r in self.results) for s in Status}

    def to_json(self) -> dict[str, Any]:
        return {"suite": "colo-ops core conformance", "protocol": self.version, "ok": self.ok,
                "counts": self.counts(), "core": self.core, "endpoints": self.endpoints,
                "started_ns": self.started_ns, "seconds": round(self.seconds, 3),
                "restart_command": self.restart_command or None, "rules": [r.to_json() for r in self.results]}


def unknown_rules(names: Iterable[str]) -> list[str]:
    return [n for n in names if n not in RULE_NAMES]


def run_suite(config: Config, only: Iterable[str] | None = None,
              on_result: Callable[[RuleResult], None] | None = None) -> SuiteReport:
    """Every rule (or those named in `only`) against the core of `config`; raises Unreachable."""
    wanted = set(only) if only else set(RULE_NAMES)
    peer = Peer(config.endpoints, config.keys_dir, timeout_s=config.timeout_s)
    session = Session(config, peer)
    t0 = time.monotonic()
    try:
        session.hello = negotiate(session)
        firm = ((peer.call("status", identity=config.monitor_key) or {}).get("result") or {}).get("kill", {})
        session.firm_level = firm.get("firm") if isinstance(firm, dict) else None
        report = SuiteReport(config.endpoints.to_json(), session.hello, time.time_ns(),
                             restart_command=config.restart_label, version=peer.version)
        for run in RULES:
            if run.rule_name not in wanted:  # type: ignore[attr-defined]
                continue
            result = run(session)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
        report.seconds = time.monotonic() - t0
        return report
    finally:
        session.cleanup()
        peer.close()


def negotiate(session: Session) -> dict[str, Any]:
    """The newest control version the core accepts (hello per version, newest first); its hello result.

    A core that refuses every version is still tested (in this side's newest), and fails the handshake."""
    peer, config = session.peer, session.config
    for v in CONTROL_VERSIONS:
        hello = peer.call("hello", identity=config.monitor_key, v=v)
        if hello is None:
            raise Unreachable(f"no reply to hello at {config.endpoints.control} within {config.timeout_s} s")
        session.negotiation.append({"v": v, "ok": hello.get("ok") is True, "code": hello.get("code"),
                                    "result": hello.get("result")})
        if hello.get("ok") is True:
            peer.version = v
            return dict(hello.get("result") or {})
    peer.version = CONTROL_VERSIONS[0]
    return {}


def shell_restart(command: str, timeout_s: float = 120.0) -> Callable[[], dict[str, Any]]:
    """A restart step that runs `command` with /bin/sh and reports its exit code and output tail.

    Output goes to a temporary file, not a pipe, so a command that leaves the new core running in the
    background (holding its stdout) does not keep the suite waiting."""

    def run() -> dict[str, Any]:
        with tempfile.TemporaryFile() as out:
            t0 = time.monotonic()
            try:
                proc = subprocess.run(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=timeout_s, env=dict(os.environ))
                code: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
            out.seek(0)
            tail = out.read()[-2000:].decode(errors="replace")
        return {"command": command, "exit_code": code, "seconds": round(time.monotonic() - t0, 2),
                "output_tail": tail}

    return run
