"""Colo hosts: the inventory and the one interface the HA drills use to act on a host.

    inv = load_inventory(path)            # TOML: [hosts.<name>] address, port, user, key_file, known_hosts,
                                          #        node ("primary"|"standby"), twin_home, python, root
    with SshHost(inv["colo-a"]) as h:     # paramiko: RejectPolicy + known_hosts, key auth only
        h.run("uptime")                   # -> CommandResult(rc, stdout, stderr)
        h.twin_pid()                      # the twin's pid from <twin_home>/run/twin-<node>.json
        h.kill(pid, "KILL")               # kill -9 (a crash); "STOP"/"CONT" freeze/thaw (see below)
        h.set_link("cr-3f9a1c-pri", up=False)  # ip link set dev … down: cut a trading network link
        h.proc_state(pid)                 # "S", "R", … "T" (stopped), None when no such process

Live and twin implementations behind one interface (design principle 6): `SshHost` is the live one (a real
colo host, or in tests and the demo a real OpenSSH sshd on a loopback port, `LocalSshd`); nothing here is
simulated. Host keys are always verified against the given known_hosts file (an unknown host key is
rejected, never added).

"Stop its network": where the drill can build a trading network of Linux network namespaces (hw.netns:
root, iproute2), each twin node runs in its own namespace and the fault is `ip link set dev <the node's
root-side veth> down` run over SSH on the node's host, `up` to heal. The SSH hosts themselves listen on
loopback in the root namespace, like a colo host's separate out-of-band management network, so the host is
still reachable while its trading link is down and the node keeps running, cut off. Where namespaces are
not available the drill falls back to `kill -STOP <twin pid>` / `kill -CONT` (the node stops heartbeats,
replication acks, drop copy and replies at once) and says so in its result (`fault_method`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hw.errors import HostError

SSHD = "/usr/sbin/sshd"
SIGNALS = {"KILL": "KILL", "TERM": "TERM", "STOP": "STOP", "CONT": "CONT"}
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    node: str = "primary"  # the twin node this host runs
    twin_home: Path = Path("/var/lib/colo-ops")
    python: str = "python3"
    root: Path = Path("/opt/colo-ops")  # where the code is installed on the host (PYTHONPATH)


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def load_inventory(path: Path | str) -> dict[str, Host]:
    """Hosts from a TOML inventory; raises HostError naming the file and the host/field at fault."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HostError(f"{path}: cannot read inventory: {exc}") from None
    hosts = doc.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise HostError(f"{path}: no [hosts.<name>] tables")
    out: dict[str, Host] = {}
    for name, h in hosts.items():
        if not isinstance(h, dict):
            raise HostError(f"{path}: hosts.{name} is not a table")
        try:
            node = str(h.get("node", "primary"))
            if node not in ("primary", "standby"):
                raise ValueError("node must be primary or standby")
            port = h.get("port", 22)
            if not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError("port must be 1..65535")
            out[name] = Host(name, str(h["address"]), port, str(h["user"]), Path(h["key_file"]),
                             Path(h["known_hosts"]), node, Path(h.get("twin_home", "/var/lib/colo-ops")),
                             str(h.get("python", "python3")), Path(h.get("root", "/opt/colo-ops")))
        except KeyError as exc:
            raise HostError(f"{path}: hosts.{name}: missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise HostError(f"{path}: hosts.{name}: {exc}") from None
    return out


class SshHost:
    """A colo host over SSH (paramiko). Host key checked against known_hosts; key auth only."""

    def __init__(self, host: Host, *, timeout_s: float = 10.0) -> None:
        import paramiko

        self.host = host
        self.timeout_s = timeout_s
        self._client = paramiko.SSHClient()
        self._client.load_host_keys(str(host.known_hosts))
        self._client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            self._client.connect(host.address, port=host.port, username=host.user, key_filename=str(host.key_file),
                                 look_for_keys=False, allow_agent=False, timeout=timeout_s,
                                 banner_timeout=timeout_s, auth_timeout=timeout_s)
        except (paramiko.SSHException, OSError) as exc:
            self._client.close()
            raise HostError(f"{host.name} ({host.address}:{host.port}): ssh connect failed: {exc}") from None

    def __enter__(self) -> SshHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def run(self, command: str, *, timeout_s: float | None = None) -> CommandResult:
        """Run one command; returns its exit status and output (never raises for a non-zero status)."""
        import paramiko

        try:
            _stdin, out, err = self._client.exec_command(command, timeout=timeout_s or self.timeout_s)
            rc = out.channel.recv_exit_status()
            return CommandResult(rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
        except (paramiko.SSHException, OSError) as exc:
            raise HostError(f"{self.host.name}: {command!r} failed: {exc}") from None

    # --- twin helpers -----------------------------------------------------------------------------------
    def twin_info(self, home: Path | None = None, node: str | None = None) -> dict[str, Any] | None:
        """The twin's endpoint file on this host (pid, endpoints), or None when no twin runs there."""
        path = (home or self.host.twin_home) / "run" / f"twin-{node or self.host.node}.json"
        res = self.run(f"cat {shlex.quote(str(path))}")
        if not res.ok:
            return None
        try:
            obj = orjson.loads(res.stdout)
        except orjson.JSONDecodeError:
            return None
        return obj if isinstance(obj, dict) else None

    def twin_pid(self, home: Path | None = None, node: str | None = None) -> int | None:
        info = self.twin_info(home, node)
        pid = info.get("pid") if info else None
        return pid if isinstance(pid, int) else None

    def kill(self, pid: int, sig: str = "KILL") -> CommandResult:
        if sig not in SIGNALS or not isinstance(pid, int) or pid <= 1:
            raise HostError(f"{self.host.name}: refusing kill -{sig} {pid}")
        return self.run(f"kill -{SIGNALS[sig]} {pid}")

    def set_link(self, dev: str, *, up: bool) -> CommandResult:
        """`ip link set dev <dev> up|down` on this host (a network fault or its heal)."""
        if not _IFNAME.fullmatch(dev):
            raise HostError(f"{self.host.name}: refusing ip link set on {dev!r}")
        return self.run(f"ip link set dev {dev} {'up' if up else 'down'}")

    def proc_state(self, pid: int) -> str | None:
        """The state letter of a process on this host (/proc/<pid>/stat: R running, S sleeping, D disk wait,
        T stopped, Z zombie…); None when there is no such process."""
        if not isinstance(pid, int) or pid <= 0:
            raise HostError(f"{self.host.name}: bad pid {pid!r}")
        res = self.run(f"cat /proc/{pid}/stat")
        if not res.ok or ")" not in res.stdout:
            return None
        fields = res.stdout.rsplit(")", 1)[1].split()
        return fields[0] if fields else None

    def file_sizes(self, directory: Path, glob: str = "*") -> dict[str, int]:
        """{path: size in bytes} of the files in `directory` on this host whose names match `glob` (letters,
        digits, `._-` and the wildcards `*?`); empty when none match or the directory is missing."""
        if not re.fullmatch(r"[A-Za-z0-9._*?-]+", glob):
            raise HostError(f"{self.host.name}: refusing file glob {glob!r}")
        res = self.run(f"cd {shlex.quote(str(directory))} 2>/dev/null && for f in {glob}; do "
                       f"[ -f \"$f\" ] && stat -c '%s %n' \"$PWD/$f\"; done; true")
        out = {}
        for line in res.stdout.splitlines():
            size, _, name = line.partition(" ")
            if size.isdigit() and name:
                out[name] = int(size)
        return out

    def start_twin(self, home: Path, node: str, ports: list[int], ha_port: int, peer: str,
                   keys_dir: Path) -> CommandResult:
        """Start a twin node on this host in the background (its own session); returns at once."""
        argv = [self.host.python, "-m", "hw.twin", "--home", str(home), "--node", node, "--keys-dir", str(keys_dir),
                "--ports", ",".join(map(str, ports)), "--ha-port", str(ha_port), "--peer", peer]
        log = home / "run" / f"twin-{node}.log"
        # `;` not `&&`: the trailing `&` must background the twin alone, so the session can close at once.
        cmd = (f"mkdir -p {shlex.quote(str(log.parent))}; cd {shlex.quote(str(self.host.root))}; "
               f"COLO_OPS_HOME={shlex.quote(str(home))} PYTHONPATH={shlex.quote(str(self.host.root))} "
               f"setsid nohup {' '.join(shlex.quote(a) for a in argv)} >>{shlex.quote(str(log))} 2>&1 </dev/null &")
        return self.run(cmd)


@dataclass
class LocalSshd:
    """A real OpenSSH sshd on a loopback port with generated host and user keys: a colo host for tests and
    the demo (the drills reach it exactly as a remote host, over SSH with a verified host key)."""

    directory: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    known_hosts: Path = field(init=False)
    key_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.known_hosts = self.directory / "known_hosts"
        self.key_file = self.directory / "user_key"

    def start(self, deadline_s: float = 10.0) -> LocalSshd:
        if not os.access(SSHD, os.X_OK):
            raise HostError(f"{SSHD} missing: apt-get install -y openssh-server")
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "user_key"):
            if not (d / name).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "colo-ops-host", "-f",
                                str(d / name)], check=True, capture_output=True)
        (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation directory
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = int(s.getsockname()[1])
        cfg = d / "sshd_config"
        cfg.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {d / 'host_key'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
            f"PidFile {d / 'sshd.pid'}", "LogLevel ERROR", "MaxStartups 50", "",
        ]))
        subprocess.run([SSHD, "-t", "-f", str(cfg)], check=True, capture_output=True)
        with open(d / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-f", str(cfg), "-e"], stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + deadline_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise HostError(f"sshd did not start: {(d / 'sshd.log').read_text(errors='replace')[-500:]}")
            time.sleep(0.05)  # bounded readiness poll
        kind, b64 = (d / "host_key.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {b64}\n")
        return self

    def host(self, name: str, node: str, twin_home: Path) -> Host:
        import getpass
        import sys

        return Host(name, "127.0.0.1", self.port, getpass.getuser(), self.key_file, self.known_hosts, node, twin_home,
                    sys.executable, Path(__file__).resolve().parents[1])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
