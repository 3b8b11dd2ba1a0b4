"""Settings: environment variables `COLO_OPS_*` over an optional `colo-ops.toml` over defaults.

Kept dependency-free (tomllib + os) so `corectl` starts fast. Every package reads configuration through
`load_settings()`; flows add their own keys through `Settings.get()` with the same precedence.

Lookup of key `a.b` (section a, key b): env `COLO_OPS_A_B`, then `[a] b = ...` in the TOML file, then the
default. Top-level keys: env `COLO_OPS_<KEY>`, then `key = ...` at the top of the file.

Where things are does not depend on the current directory (an on-call engineer runs `opsctl` from anywhere):

- the TOML file is `COLO_OPS_CONFIG` if set, else the nearest `colo-ops.toml` in the current directory or
  one of its parents, else one in the project root;
- the data home is `COLO_OPS_HOME`, else `home = ...` in that file (relative to the file's folder), else
  `<project root>/var`. The project root is the nearest folder, from the current directory up, holding a
  `colo-ops.toml` or colo-ops' `pyproject.toml`; else the checkout this package runs from; else
  `~/.local/share/colo-ops` (an installed package with no checkout).
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


CONFIG_NAME = "colo-ops.toml"


def _is_project_root(folder: Path) -> bool:
    if (folder / CONFIG_NAME).is_file():
        return True
    try:
        text = (folder / "pyproject.toml").read_text()
    except OSError:
        return False
    return 'name = "colo-ops"' in text


def project_root(start: Path | None = None) -> Path | None:
    """The nearest colo-ops project folder from `start` (default: the current directory) up, else the
    checkout this package was loaded from, else None (an installed package)."""
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if _is_project_root(folder):
            return folder
    checkout = Path(__file__).resolve().parents[1]
    return checkout if _is_project_root(checkout) else None


def config_path(start: Path | None = None) -> Path | None:
    """The TOML file in force: COLO_OPS_CONFIG, else the nearest colo-ops.toml up from `start`, else the
    project root's."""
    explicit = os.environ.get("COLO_OPS_CONFIG")
    if explicit:
        return Path(explicit)
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    root = project_root(start)
    return root / CONFIG_NAME if root is not None and (root / CONFIG_NAME).is_file() else None


def default_home(start: Path | None = None) -> Path:
    root = project_root(start)
    return root / "var" if root is not None else Path.home() / ".local" / "share" / "colo-ops"


def load_settings(home: str | Path | None = None) -> Settings:
    path = config_path()
    values: dict[str, Any] = {}
    if path is not None and path.is_file():
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    if home is None:
        env_home = os.environ.get("COLO_OPS_HOME")
        if env_home:
            home = env_home
        elif values.get("home") and path is not None:
            home = path.parent / str(values["home"])  # an absolute `home` stays as it is
        else:
            home = default_home()
    return Settings(home=Path(home).absolute(), file_values=values)
