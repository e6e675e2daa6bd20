"""Real OpenSSH servers on loopback addresses, for end-to-end tests and benchmarks.

As a pytest plugin it provides ``sshd_hosts``: sshd on DESIGN.md's end-to-end
addresses (blue, green, front) sharing one client key. As a library,
``SSHDFleet.start(workdir, {name: (address, port)})`` starts any number of them.
``wait_dead`` tells whether a command sshd started (on this machine) has ended.
"""
from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from deploy_core.config import Host, SSHConfig

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
E2E_HOSTS = {"blue": ("127.0.0.12", 2222), "green": ("127.0.0.13", 2222),
             "front": ("127.0.0.14", 2222)}


class SSHDError(RuntimeError):
    """sshd could not be set up or did not come up."""


def keygen(path: Path, comment: str = "bluegreen-test") -> Path:
    """Write a fresh ed25519 key pair at ``path`` and ``path.pub``."""
    path.unlink(missing_ok=True)
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=30)
    return path


def fingerprint(public_key_file: Path) -> str:
    """The SHA256 fingerprint OpenSSH itself prints for a public key file."""
    out = subprocess.run([SSH_KEYGEN, "-l", "-E", "sha256", "-f", str(public_key_file)],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return out.split()[1]


def wait_dead(pid: int, within: float) -> bool:
    """Whether ``pid`` is gone (or a zombie) within ``within`` seconds; sshd runs locally."""
    until = time.monotonic() + within
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        if time.monotonic() > until:
            return False
        time.sleep(0.02)


def _port_in_use(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((address, port)) == 0


@dataclass
class SSHDServer:
    """One sshd on ``address:port`` with its own host key, trusting ``authorized_keys``."""

    address: str
    port: int
    workdir: Path
    authorized_keys: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host_key_file(self) -> Path:
        return self.workdir / "ssh_host_ed25519_key"

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA…`` of this server's host key."""
        kind, blob = self.host_key_file.with_suffix(".pub").read_text().split()[:2]
        return f"{kind} {blob}"

    @property
    def host_fingerprint(self) -> str:
        return fingerprint(self.host_key_file.with_suffix(".pub"))

    @property
    def log(self) -> str:
        path = self.workdir / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def known_hosts_line(self, address: str | None = None, port: int | None = None) -> str:
        """The known_hosts line for this server, optionally under another name (a proxy)."""
        address, port = address or self.address, port or self.port
        name = address if port == 22 else f"[{address}]:{port}"
        return f"{name} {self.host_public_key}"

    def host(self, url: str = "") -> Host:
        return Host(address=self.address, port=self.port, url=url or f"http://{self.address}:8081")

    def start(self, timeout: float = 10.0) -> SSHDServer:
        """Generate the host key and config, start ``sshd -D -e``, wait until it greets."""
        if not os.path.exists(SSHD):
            raise SSHDError(f"{SSHD} not found: apt-get install -y openssh-server")
        if _port_in_use(self.address, self.port):
            raise SSHDError(f"{self.address}:{self.port} is already taken (a leftover sshd from "
                            "an earlier run? find it with `ss -ltnp`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        keygen(self.host_key_file, f"sshd-{self.address}")
        config = self.workdir / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {self.address}:{self.port}",
            f"HostKey {self.host_key_file}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "MaxStartups 100",
            "MaxSessions 64",
            "LogLevel INFO",
            # bash run by sshd sources ~/.bashrc unless SHLVL says it is nested; root's here
            # runs pyenv init, ~0.2 s for every command.
            "SetEnv SHLVL=1",
            "",
        ]))
        with open(self.workdir / "sshd.log", "ab") as log:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SSHDError(f"sshd on {self.address}:{self.port} exited "
                                f"{self.process.returncode}:\n{self.log}")
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise SSHDError(f"sshd on {self.address}:{self.port} did not greet within "
                        f"{timeout:g}s:\n{self.log}")

    def stop(self) -> None:
        """Stop the listening sshd (sessions still open end when their clients close)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@dataclass
class SSHDFleet:
    """Several sshd sharing one client key and one known_hosts file."""

    workdir: Path
    key_file: Path
    known_hosts: Path
    user: str
    servers: dict[str, SSHDServer]

    @classmethod
    def start(cls, workdir: Path, addresses: Mapping[str, tuple[str, int]]) -> SSHDFleet:
        workdir.mkdir(parents=True, exist_ok=True)
        key_file = keygen(workdir / "id_ed25519", "bluegreen-client")
        authorized = workdir / "authorized_keys"
        authorized.write_text(key_file.with_suffix(".pub").read_text())
        user = pwd.getpwuid(os.getuid()).pw_name
        fleet = cls(workdir, key_file, workdir / "known_hosts", user, {})
        try:
            for name, (address, port) in addresses.items():
                server = SSHDServer(address, port, workdir / name, authorized)
                fleet.servers[name] = server.start()
        except BaseException:
            fleet.stop()
            raise
        fleet.known_hosts.write_text("".join(f"{s.known_hosts_line()}\n"
                                             for s in fleet.servers.values()))
        return fleet

    def __getitem__(self, name: str) -> SSHDServer:
        return self.servers[name]

    @property
    def blue(self) -> SSHDServer:
        return self.servers["blue"]

    @property
    def green(self) -> SSHDServer:
        return self.servers["green"]

    @property
    def front(self) -> SSHDServer:
        return self.servers["front"]

    def ssh_config(self, **overrides: object) -> SSHConfig:
        """An ``[ssh]`` section that reaches these servers."""
        values: dict[str, object] = dict(user=self.user, port=2222, key_file=str(self.key_file),
                                         known_hosts=str(self.known_hosts), connect_timeout_s=5.0)
        values.update(overrides)
        return SSHConfig(**values)  # type: ignore[arg-type]

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHDFleet]:
    """sshd at 127.0.0.12/13/14:2222 (blue, green, front); fails, never skips, without sshd."""
    try:
        fleet = SSHDFleet.start(tmp_path_factory.mktemp("sshd"), E2E_HOSTS)
    except (SSHDError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"cannot start the test sshd servers: {exc}", pytrace=False)
    yield fleet
    fleet.stop()
