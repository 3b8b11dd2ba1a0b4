"""The core conformance suite: docs/protocol.md's observable rules, run against any core over the wire.

Why it exists: the protocol is a contract for a core colo-ops did not write. This package checks a running
core (the C core, the reference core, the Python twin) from the outside, with the same CURVE keys a client
has, and reports per rule pass / fail / n/a with the evidence it saw. `corectl conformance` runs it
(core_bridge.cli.conformance); the C team runs that in its CI (docs/core_sdk.md).

    result         RuleResult, Status, the `rule` decorator and Evidence (checks and notes of one rule)
    peer           raw CURVE sockets to the core with deadlines (control, rewind, subscriptions, strangers)
    session        Config (endpoints, keys, timings, restart step) and the per-run Session the rules share
    rules_control  handshake, unknown key, roles, idempotency, levels, cancels, expiry, malformed frames
    rules_stream   heartbeat cadence, drop-copy continuity, rewind in / out of range, restart
    runner         RULES in order, run_suite, SuiteReport, shell_restart
    report         text lines, the JSON document and the HTML page

Import cost: zmq and orjson; numpy loads inside the stream rules. corectl imports this package only inside
the `conformance` command, so a cold `corectl kill` never pays for it.
"""

from core_bridge.conformance.peer import Endpoints
from core_bridge.conformance.result import RuleResult, Status
from core_bridge.conformance.runner import RULE_NAMES, RULES, SuiteReport, Unreachable, run_suite, shell_restart
from core_bridge.conformance.session import Config

__all__ = ["RULES", "RULE_NAMES", "Config", "Endpoints", "RuleResult", "Status", "SuiteReport", "Unreachable",
           "run_suite", "shell_restart"]
