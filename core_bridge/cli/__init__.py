"""`corectl`: the on-call CLI for the trading core's control plane (console script `core_bridge.cli.app:main`).

Why it is laid out like this: `corectl kill` is run by a person in a hurry, as a cold process, so the path
of a plain kill/resume/cancel-all must not load typer, pydantic, rich or numpy. The modules:

    common      options, exit codes, JSON output, the error guard, endpoint/key resolution, scope and time
                parsing, and the kill/cancel implementations; typer-free (the fast path runs on it)
    fastpath    the on-call parser for plain kill/resume/cancel-all (imports common only)
    params      typer declarations several commands share: the root callback's global options, --json,
                --reason
    status, control (kill/resume/cancel-all/limits), watch, exporter, audit, keys, ha, conformance, journal (journal
    verify|tail|stats|seal and capture)
                one module per command group; each imports common (and params) only and exposes
                `register(app)`
    app         `main` and `build_app`: the fast path first, else the typer app with every command module
                registered

Imports point one way: app -> command modules -> params -> common; nothing imports app. This package
`__init__` imports nothing, so `import core_bridge.cli.<module>` stays as cheap as that module.
"""
