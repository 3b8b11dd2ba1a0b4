"""`corectl kill ... --flatten`: the kill-to-flat flow (core_bridge.killflat) and its report files.

Exit 0 only when the drop copy says the scope is flat; 7 when the outcome is partial (a venue that did not
confirm its cancels in time, a rejected flatten order, a position still open), with each open item printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core_bridge.cli.common import ExitCode, Options, guard, print_json


def endpoints(opts: Options) -> tuple[str, str, str]:
    """(drop copy, rewind, telemetry) for the core the options point at."""
    if opts.endpoint:
        head, _, port = opts.endpoint.rpartition(":")
        if not port.isdigit():
            raise ValueError(f"cannot derive the drop-copy endpoints from {opts.endpoint!r}")
        return f"{head}:{int(port) + 2}", f"{head}:{int(port) + 3}", opts.telemetry_endpoint()
    return opts._configured("dropcopy"), opts._configured("rewind"), opts.telemetry_endpoint()


def do_flatten(opts: Options, scope: tuple[str, str | None], reason: str, idem: str | None, *,
               cancel_deadline_s: float, flat_deadline_s: float) -> None:
    from core_bridge.killflat.runner import FlattenConfig, run_flatten
    from core_bridge.killflat.timeline import report_date, write_report
    from core_bridge.protocol import KillScope

    if not reason.strip():
        from core_bridge.cli.common import fail

        fail(opts, ExitCode.USAGE, "usage", "--reason must say why (it goes to the audit log)")

    def run() -> dict[str, Any]:
        dc, rw, tel = endpoints(opts)
        cfg = FlattenConfig(dc, rw, tel, opts.resolved_keys_dir(), opts.key, cancel_deadline_s=cancel_deadline_s,
                            flat_deadline_s=flat_deadline_s)
        client = opts.client()
        try:
            return run_flatten(client, cfg, KillScope(scope[0]), scope[1], reason, idempotency_key=idem)
        finally:
            client.close()

    doc: dict[str, Any] = guard(opts, run)
    out_dir = Path(opts.settings().reports_dir(report_date(doc["started_ns"]))) / "kills"
    j, h = write_report(doc, out_dir)
    doc["report"] = {"json": str(j), "html": str(h)}
    flat = doc["outcome"] == "flat"
    if opts.json:
        print_json({"ok": flat, "command": "kill_flatten", **{k: v for k, v in doc.items() if k != "timeline_by_venue"},
                    **({} if flat else {"exit_code": int(ExitCode.NOT_FLAT)})})
    else:
        where = "firm" if doc["key"] is None else f"{doc['scope']} {doc['key']}"
        for e in doc["timeline"]:
            print(f"{e['at']}  {(e['venue'] or '-'):5} {e['event']:17} {e['order_id'] or '':>20}  {e['detail']}")
        if flat:
            print(f"FLAT {where}: HALTED, {len(doc['resting_orders'])} resting order(s) confirmed gone, "
                  f"{len(doc['flatten_orders'])} flatten order(s); report {h}")
        else:
            print(f"NOT FLAT {where} ({doc['outcome']}); still open:")
            for item in doc["still_open"]:
                print(f"  - {item}")
            print(f"report {h}")
    if not flat:
        raise SystemExit(int(ExitCode.NOT_FLAT))
