"""`corectl keys init`: the CURVE keypairs and roles.json the core and every client need, created by the
same tool on-call already has.
"""

from __future__ import annotations

import typer

from core_bridge.cli.common import ExitCode, fail, guard, json_options, print_json
from core_bridge.cli.params import JSON_OPT

keys_app = typer.Typer(help="CURVE key management.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def keys_init(
    ctx: typer.Context,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing keys (every client needs new ones)."),
    client: list[str] = typer.Option([], "--client", help="Also a client key NAME=ROLE (monitor, operator, admin), "
                                                          "e.g. risk-officer=admin for a person who approves limit "
                                                          "raises (four eyes). Repeatable."),
    json_out: bool = JSON_OPT,
) -> None:
    """Create the core keypair, monitor/capture/operator/admin client keys and roles.json (idempotent)."""
    opts = json_options(ctx, json_out)
    from core_bridge.auth import DEFAULT_CLIENTS, generate_keyset
    from core_bridge.protocol import Role

    extra: dict[str, Role] = {}
    for item in client:
        name, _, role = item.partition("=")
        if not name.strip() or role not in {r.value for r in Role}:
            fail(opts, ExitCode.USAGE, "usage", f"--client must be NAME=monitor|operator|admin, got {item!r}")
        extra[name.strip()] = Role(role)
    kd = opts.resolved_keys_dir()
    guard(opts, lambda: generate_keyset(kd, overwrite=overwrite))
    if extra:
        guard(opts, lambda: generate_keyset(kd, extra))
    clients = {n: r.value for n, r in {**DEFAULT_CLIENTS, **extra}.items()}
    if opts.json:
        print_json({"ok": True, "keys_dir": str(kd), "clients": clients})
    else:
        print(f"keys in {kd}: core + " + ", ".join(f"{n} ({r})" for n, r in clients.items()))
