"""Every error the hw package (twin core, clearing twin, hosts) raises.

    HwError
    ├── TwinStateError     the twin's persisted state is missing/corrupt (it then starts HALTED)
    ├── TwinStartError     a twin process did not come up (carries the node and its log file)
    └── HostError          an SSH host operation failed (carries the host)
"""

from __future__ import annotations


class HwError(Exception):
    """Base of every hw error."""


class TwinStateError(HwError):
    pass


class TwinStartError(HwError):
    def __init__(self, message: str, node: str | None = None, log_path: str | None = None) -> None:
        super().__init__(f"twin {node}: {message}" + (f" (log: {log_path})" if log_path else ""))
        self.node = node
        self.log_path = log_path


class HostError(HwError):
    def __init__(self, message: str, host: str | None = None) -> None:
        super().__init__(f"{host}: {message}" if host else message)
        self.host = host
