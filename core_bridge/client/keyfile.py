"""Reading a CURVE certificate file on the client side.

Why not core_bridge.auth: that module serves the core side too and pulls in `zmq.auth.thread` (and asyncio),
which a cold `corectl kill` must not pay for. The file format is the one zmq.auth writes.
"""

from __future__ import annotations

from pathlib import Path

from core_bridge.errors import ConfigError


def read_curve_key(path: Path) -> tuple[bytes, bytes | None]:
    """(public, secret) z85 keys from a ZeroMQ certificate file; same format as zmq.auth writes."""
    public: bytes | None = None
    secret: bytes | None = None
    try:
        with path.open("rb") as fh:
            for raw in fh:
                line = raw.strip()
                if line.startswith(b"public-key"):
                    public = line.split(b"=", 1)[1].strip(b" \t'\"")
                elif line.startswith(b"secret-key"):
                    secret = line.split(b"=", 1)[1].strip(b" \t'\"")
    except FileNotFoundError:
        raise ConfigError("key file not found", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read key file: {exc}", path) from None
    if public is None or len(public) != 40 or (secret is not None and len(secret) != 40):
        raise ConfigError("not a CURVE certificate (public-key/secret-key of 40 z85 characters)", path)
    return public, secret
