"""Settings: environment variables `COLO_OPS_*` over an optional `colo-ops.toml` over defaults.

Kept dependency-free (tomllib + os) so `corectl` starts fast. Every package reads configuration through
`load_settings()`; flows add their own keys through `Settings.get()` with the same precedence.

Lookup of key `a.b` (section a, key b): env `COLO_OPS_A_B`, then `[a] b = ...` in the TOML file, then the
default. Top-level keys: env `COLO_OPS_<KEY>`, then `key = ...` at the top of the file.
The TOML file is `COLO_OPS_CONFIG` if set, else `./colo-ops.toml` if present.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core_bridge.protocol import DEFAULT_PORTS


def _env_name(key: str) -> str:
    return "COLO_OPS_" + key.replace(".", "_").replace("-", "_").upper()


@dataclass(frozen=True)
class Settings:
    home: Path
    file_values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        env = os.environ.get(_env_name(key))
        if env is not None:
            return _coerce(env, default)
        node: Any = self.file_values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    # --- data home layout (design contract) ---
    @property
    def db_dir(self) -> Path:
        return self.home / "db"

    @property
    def journal_dir(self) -> Path:
        return Path(self.get("journal.dir", str(self.home / "journal")))

    @property
    def inbox_dir(self) -> Path:
        return self.home / "inbox"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def keys_dir(self) -> Path:
        return Path(self.get("keys.dir", str(self.home / "keys")))

    @property
    def run_dir(self) -> Path:
        """Pid files, endpoint files and logs of locally started services."""
        return self.home / "run"

    def reports_dir(self, date: str) -> Path:
        return self.home / "reports" / date

    @property
    def db_url(self) -> str:
        url = self.get("db_url")
        return str(url) if url else f"sqlite:///{(self.db_dir / 'colo-ops.sqlite').resolve()}"

    # --- the core ---
    @property
    def core_host(self) -> str:
        return str(self.get("core.host", "127.0.0.1"))

    def core_endpoint(self, socket: str, node: str = "primary") -> str:
        """tcp endpoint of one core socket; `node` is primary or standby.

        Precedence: an explicit setting (`COLO_OPS_CORE_<NODE>_<SOCKET>` / `[core.<node>] <socket>`), then a
        locally started twin's `<home>/run/twin-<node>.json`, then the default ports (standby = +100).
        """
        explicit = self.get(f"core.{node}.{socket}")
        if explicit:
            return str(explicit)
        local = self.local_twin_endpoints(node)
        if socket in local:
            return local[socket]
        default_base = DEFAULT_PORTS["control"] + (100 if node == "standby" else 0)
        port = int(self.get(f"core.{node}.port_base", default_base)) + list(DEFAULT_PORTS).index(socket)
        host = str(self.get(f"core.{node}.host", self.core_host))
        return f"tcp://{host}:{port}"

    def local_twin_endpoints(self, node: str = "primary") -> dict[str, str]:
        """Endpoints a twin started under this home advertised (empty when none is running here)."""
        import json

        try:
            doc = json.loads((self.run_dir / f"twin-{node}.json").read_text())
        except (OSError, ValueError):
            return {}
        eps = doc.get("endpoints") if isinstance(doc, dict) else None
        return {str(k): str(v) for k, v in eps.items()} if isinstance(eps, dict) else {}

    @property
    def operator(self) -> str:
        return str(self.get("operator") or os.environ.get("USER") or "unknown")


def _coerce(value: str, like: Any) -> Any:
    if isinstance(like, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    return value


def load_settings(home: str | Path | None = None) -> Settings:
    cfg_path = os.environ.get("COLO_OPS_CONFIG")
    path = Path(cfg_path) if cfg_path else Path("colo-ops.toml")
    values: dict[str, Any] = {}
    if path.is_file():
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    if home is None:
        home = os.environ.get("COLO_OPS_HOME") or values.get("home") or "./var"
    return Settings(home=Path(home).absolute(), file_values=values)
