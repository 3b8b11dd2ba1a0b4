"""`corectl ha status|promote|demote`: each node of the Binary Star pair addressed on its own, because
during a failover the question is which node is active, not what "the core" says.
"""

from __future__ import annotations

from typing import Any

import typer

from core_bridge.cli.common import ExitCode, Options, fail, json_options, print_json, with_client
from core_bridge.cli.params import JSON_OPT, REASON

ha_app = typer.Typer(help="High availability (Binary Star pair): status of each node; manual promote/demote "
                          "(admin key, audited).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ha_app, name="ha")


NODE = typer.Option(None, "--node", "-n", help="primary or standby (default for status: both).")


def _node_opts(opts: Options, node: str) -> Options:
    """Options addressing one node: --endpoint if given, else the node's configured control endpoint."""
    import dataclasses

    if node not in ("primary", "standby"):
        fail(opts, ExitCode.USAGE, "usage", f"--node must be primary or standby, not {node!r}")
    if opts.endpoint:
        return opts
    return dataclasses.replace(opts, endpoint=opts.settings().core_endpoint("control", node))


def _ha_line(doc: dict[str, Any]) -> str:
    peer = "peer lost" if not doc.get("peer_alive") else f"peer {doc.get('peer_state')} ({doc.get('peer_seen_ms')} ms)"
    flags = " ".join(f for f, on in (("FENCED", doc.get("fenced")), ("DEGRADED", doc.get("degraded"))) if on)
    return (f"{doc.get('node'):8} {str(doc.get('fsm') or doc.get('ha_role')):16} term {doc.get('term')}  "
            f"epoch {doc.get('epoch')}  {peer}  split-brain refusals {doc.get('split_brain_refusals', 0)}"
            + (f"  {flags}" if flags else ""))


@ha_app.command("status")
def ha_status(ctx: typer.Context, node: str | None = NODE, json_out: bool = JSON_OPT) -> None:
    """Each node's HA state: FSM role, fencing term, epoch, peer heartbeat age, fenced/degraded flags.

    Exit 0 when every asked node answered; 3 when one did not (the other's status is still printed)."""
    opts = json_options(ctx, json_out)
    nodes = [node] if node else ["primary", "standby"]
    docs: dict[str, Any] = {}
    code = ExitCode.OK
    for n in nodes:
        o = _node_opts(opts, n)
        client = o.client()
        try:
            docs[n] = {**client.ha_status().result, "endpoint": o.control_endpoint()}
        except Exception as exc:  # one node down must not hide the other's status
            docs[n] = {"node": n, "error": str(exc), "endpoint": o.control_endpoint()}
            code = ExitCode.NO_ACK
        finally:
            client.close()
    if opts.json:
        print_json({"nodes": docs, "active": [n for n, d in docs.items() if d.get("ha_role") == "active"]})
    else:
        for n, d in docs.items():
            print(f"{n:8} NO ANSWER at {d['endpoint']}: {d['error']}" if "error" in d else _ha_line(d))
    raise typer.Exit(int(code))


def _ha_change(ctx: typer.Context, node: str, reason: str, json_out: bool, promote: bool) -> None:
    opts = _node_opts(json_options(ctx, json_out), node)

    def run(client: Any) -> Any:
        return client.ha_promote(reason) if promote else client.ha_demote(reason)

    reply = with_client(opts, run)
    doc = {"ok": True, "node": node, "changed": reply.result.get("changed"), **reply.result}
    if opts.json:
        print_json(doc)
    else:
        print(("promoted: " if promote else "demoted: ") if doc["changed"] else "unchanged: ", end="")
        print(_ha_line(reply.result))


@ha_app.command("promote")
def ha_promote(ctx: typer.Context, node: str = typer.Option(..., "--node", "-n", help="primary or standby."),
               reason: str = REASON, json_out: bool = JSON_OPT) -> None:
    """Make a passive node active (manual failback). Refused with HA_SPLIT_BRAIN (exit 1) while its peer is
    alive and active: demote the active node first. Needs an admin key (--key admin); audited."""
    _ha_change(ctx, node, reason, json_out, promote=True)


@ha_app.command("demote")
def ha_demote(ctx: typer.Context, node: str = typer.Option(..., "--node", "-n", help="primary or standby."),
              reason: str = REASON, json_out: bool = JSON_OPT) -> None:
    """Make the active node passive (first step of a manual failback). Refused while no live peer could take
    over. Needs an admin key (--key admin); audited."""
    _ha_change(ctx, node, reason, json_out, promote=False)
