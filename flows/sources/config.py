"""Which clearing source a flow uses: live SFTP or the local-dir twin, chosen by configuration.

Keys (env `COLO_OPS_CLEARING_*` over `[clearing]` in colo-ops.toml):
    clearing.source        "sftp" | "local" (default: "local" when clearing.local_dir is set, else "sftp")
    clearing.local_dir     local twin root (default COLO_OPS_HOME/clearing_twin)
    clearing.sftp_host / clearing.sftp_port / clearing.sftp_user
    clearing.sftp_key      private key file (default COLO_OPS_HOME/keys/clearing_sftp/user_key)
    clearing.known_hosts   our known_hosts for the clearer (default COLO_OPS_HOME/keys/clearing_sftp/known_hosts)

With no `clearing.sftp_host` configured, a clearing SFTP twin running under this home (`opsctl demo`,
hw/clearing_twin/sftp_service.py) is used where it advertised itself: `<home>/run/clearing-sftp.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.sources.sftp import FileSource, LocalDirSource, SftpConfig, SftpSource


def clearing_source(settings: Any) -> FileSource:
    kind = str(settings.get("clearing.source") or ("local" if settings.get("clearing.local_dir") else "sftp"))
    if kind == "local":
        return LocalDirSource(Path(settings.get("clearing.local_dir", str(settings.home / "clearing_twin"))),
                              name="clearing-local")
    keys = settings.keys_dir / "clearing_sftp"
    local: dict[str, Any] = {}
    if not settings.get("clearing.sftp_host"):
        from hw.clearing_twin.sftp_service import read_state

        local = read_state(settings.home) or {}
    cfg = SftpConfig(
        host=str(settings.get("clearing.sftp_host", local.get("host", "127.0.0.1"))),
        port=int(settings.get("clearing.sftp_port", local.get("port", 2222))),
        username=str(settings.get("clearing.sftp_user", local.get("user", "colo"))),
        key_file=Path(settings.get("clearing.sftp_key", local.get("key", str(keys / "user_key")))),
        known_hosts=Path(settings.get("clearing.known_hosts", local.get("known_hosts", str(keys / "known_hosts")))),
    )
    return SftpSource(cfg, name="clearing-sftp")
