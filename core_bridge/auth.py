"""CURVE keys and roles.

Layout under the keys directory (`COLO_OPS_HOME/keys` by default)::

    core.key, core.key_secret          the core's server keypair (the secret stays on the colo host)
    clients/<name>.key(_secret)        one keypair per client identity (monitor, operator, admin, capture, ...)
    roles.json                         {"<z85 public key>": {"name": "...", "role": "monitor|operator|admin"}}

The core authenticates every socket with ZAP against roles.json; a key not listed gets no service at
all (ZeroMQ gives the client no error: its messages stay queued, so every client call has a deadline).
The authenticated User-Id on each message is the client's z85 public key, which the core maps to a role.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from core_bridge.errors import ConfigError
from core_bridge.protocol import Role

DEFAULT_CLIENTS: dict[str, Role] = {
    "monitor": Role.MONITOR,
    "capture": Role.MONITOR,
    "operator": Role.OPERATOR,
    "admin": Role.ADMIN,
}


@dataclass(frozen=True)
class KeyPair:
    public: bytes  # z85, 40 bytes
    secret: bytes | None


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role


def _write_keypair(path_base: Path) -> KeyPair:
    public, secret = zmq.curve_keypair()
    path_base.parent.mkdir(parents=True, exist_ok=True)
    pub = path_base.with_suffix(".key")
    sec = path_base.with_suffix(".key_secret")
    pub.write_text(f'metadata\ncurve\n    public-key = "{public.decode()}"\n')
    fd = os.open(sec, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f'metadata\ncurve\n    public-key = "{public.decode()}"\n    secret-key = "{secret.decode()}"\n')
    return KeyPair(public, secret)


def generate_keyset(keys_dir: Path, clients: dict[str, Role] | None = None, *, overwrite: bool = False) -> None:
    """Create the core keypair, one keypair per client and roles.json (idempotent unless overwrite)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    if overwrite or not (keys_dir / "core.key_secret").exists():
        _write_keypair(keys_dir / "core")
    registry = KeyRegistry.load(keys_dir) if (keys_dir / "roles.json").exists() and not overwrite else KeyRegistry({})
    for name, role in (clients or DEFAULT_CLIENTS).items():
        base = keys_dir / "clients" / name
        if overwrite or not base.with_suffix(".key_secret").exists():
            kp = _write_keypair(base)
        else:
            kp = load_keypair(base.with_suffix(".key_secret"))
        registry.entries[kp.public.decode()] = Identity(name, role)
    registry.save(keys_dir)


def load_keypair(path: Path) -> KeyPair:
    if not path.exists():
        raise ConfigError("key file not found", path)
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read key file: {exc}", path) from None
    return KeyPair(public, secret)


def server_keypair(keys_dir: Path) -> KeyPair:
    return load_keypair(keys_dir / "core.key_secret")


def server_public(keys_dir: Path) -> bytes:
    return load_keypair(keys_dir / "core.key").public


def client_keypair(keys_dir: Path, name: str) -> KeyPair:
    return load_keypair(keys_dir / "clients" / f"{name}.key_secret")


class KeyRegistry:
    """Public key -> identity. The core's view of who may connect and with what role."""

    def __init__(self, entries: dict[str, Identity]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, keys_dir: Path) -> KeyRegistry:
        path = keys_dir / "roles.json"
        try:
            raw = json.loads(path.read_text())
            return cls({k: Identity(v["name"], Role(v["role"])) for k, v in raw.items()})
        except FileNotFoundError:
            raise ConfigError("roles file not found", path) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"roles file invalid: {exc}", path) from None

    def save(self, keys_dir: Path) -> None:
        path = keys_dir / "roles.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({k: {"name": v.name, "role": v.role.value} for k, v in sorted(self.entries.items())}, indent=2)
        )
        os.replace(tmp, path)

    def lookup(self, z85_public: str | bytes) -> Identity | None:
        key = z85_public.decode() if isinstance(z85_public, bytes) else z85_public
        return self.entries.get(key)


class _RegistryCallback:
    def __init__(self, registry: KeyRegistry) -> None:
        self.registry = registry
        self.failures = 0
        self._lock = threading.Lock()

    def callback(self, domain: str, key: bytes) -> bool:
        ok = self.registry.lookup(key) is not None
        if not ok:
            with self._lock:
                self.failures += 1
        return ok


class ServerAuth:
    """ZAP authenticator for the core's sockets; counts refused keys for telemetry and tests."""

    def __init__(self, ctx: zmq.Context, registry: KeyRegistry) -> None:
        self.registry = registry
        self._cb = _RegistryCallback(registry)
        self._auth = ThreadAuthenticator(ctx)
        self._auth.start()
        self._auth.configure_curve_callback(domain="*", credentials_provider=self._cb)

    @property
    def failures(self) -> int:
        return self._cb.failures

    def reload(self, keys_dir: Path) -> None:
        self.registry.entries = KeyRegistry.load(keys_dir).entries

    def stop(self) -> None:
        self._auth.stop()


def configure_server(sock: zmq.Socket, keys: KeyPair) -> None:
    sock.curve_server = True
    sock.curve_publickey = keys.public
    if keys.secret is None:
        raise ConfigError("server keypair has no secret key")
    sock.curve_secretkey = keys.secret


def configure_client(sock: zmq.Socket, keys: KeyPair, server_key: bytes) -> None:
    if keys.secret is None:
        raise ConfigError("client keypair has no secret key")
    sock.curve_publickey = keys.public
    sock.curve_secretkey = keys.secret
    sock.curve_serverkey = server_key


# ------------------------------------------------------------------ signed approval records (four eyes)
# A limit raise carries an approval record made by a second CURVE identity (core_bridge/approvals.py). The
# record is authenticated with HMAC-SHA256 keyed by the X25519 shared secret of the approver's key and the
# core's key: only the approver (or the core) can compute it, and the core checks it with its own secret and
# the approver's public key from roles.json. Both sides MAC the same canonical bytes: these fields, sorted.
APPROVAL_FIELDS = ("v", "approval_id", "identity", "public_key", "approver", "account", "limits", "until_ns",
                   "reason", "expires_ns")


def approval_payload(record: dict[str, object]) -> bytes:
    return json.dumps({k: record.get(k) for k in APPROVAL_FIELDS}, sort_keys=True, separators=(",", ":")).encode()


def approval_mac(secret_z85: bytes, peer_public_z85: bytes, payload: bytes) -> str:
    """HMAC-SHA256 (hex) of `payload` under X25519(secret, peer public); symmetric between the two keys."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from zmq.utils import z85

    shared = X25519PrivateKey.from_private_bytes(z85.decode(secret_z85)).exchange(
        X25519PublicKey.from_public_bytes(z85.decode(peer_public_z85)))
    return hmac.new(shared, payload, hashlib.sha256).hexdigest()
