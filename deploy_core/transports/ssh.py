"""Run commands on hosts over SSH with paramiko.

Key authentication only; a host key that is unknown or has changed is refused,
never added. One authenticated connection per host, reused until ``close()``.
Every remote command runs under ``timeout`` so it stops on the host too. Where the keys
come from, and which host keys are trusted: ssh_keys.py.
"""
from __future__ import annotations

import os
import select
import shlex
import socket
import threading
import time
from typing import Mapping

import paramiko

from ..config import Host, SSHConfig
from ..errors import CommandTimeout, HostKeyError, UnreachableError
from . import CommandResult, LineCallback
from .local import LineBuffer, describe
from .ssh_keys import RejectUnknown, SSHKeys, UnknownHostKey, host_key_line

KILL_AFTER_S = 5          # remote SIGKILL this long after SIGTERM
_GRACE_S = 2.0            # wait this long past a timeout for the remote `timeout` to report
_TIMED_OUT = (124, 137)   # GNU timeout: TERM sent, KILL sent
_CHUNK = 65536


def remote_command(command: str, cwd: str | None, timeout: float) -> str:
    """The shell text sent to the host: ``command`` in ``cwd``, bounded by ``timeout``."""
    script = f"cd {shlex.quote(cwd)} && {command}" if cwd else command
    seconds = f"{max(timeout, 0.001):.3f}".rstrip("0").rstrip(".")
    return (f"timeout --signal=TERM --kill-after={KILL_AFTER_S} {seconds} "
            f"sh -c {shlex.quote(script)}")


class SSHTransport:
    """The SSH transport: one cached paramiko connection per host, safe across threads."""

    def __init__(self, ssh: SSHConfig, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.ssh = ssh
        self._keys = SSHKeys(ssh, env)
        self._lock = threading.Lock()
        self._host_locks: dict[tuple[str, int], threading.Lock] = {}
        self._clients: dict[tuple[str, int], paramiko.SSHClient] = {}

    # -- the Transport protocol -------------------------------------------------

    def run(self, host: Host, command: str, *, cwd: str | None = None,
            timeout: float = 600.0, on_line: LineCallback | None = None) -> CommandResult:
        client, chan = self._open_session(host)
        try:
            try:
                chan.exec_command(remote_command(command, cwd, timeout))
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._forget(host, client)
                raise UnreachableError(f"{self._where(host)}: the connection failed starting "
                                       f"`{describe(command)}` ({_reason(exc)})",
                                       host=host.name) from exc
            return self._collect(host, client, chan, command, timeout, on_line)
        finally:
            chan.close()

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()

    def _collect(self, host: Host, client: paramiko.SSHClient,
                 chan: paramiko.Channel, command: str, timeout: float,
                 on_line: LineCallback | None) -> CommandResult:
        """Gather one command's output and status, mapping drops and timeouts to errors."""
        out, err = LineBuffer("stdout", on_line), LineBuffer("stderr", on_line)
        start = time.monotonic()
        finished = _collect_output(chan, out, err, start + timeout + _GRACE_S)
        stdout, stderr = out.finish(), err.finish()
        where = self._where(host)
        if not finished:
            raise _timed_out(host, where, command, timeout)
        if chan.exit_status == -1:  # closed without an exit status (paramiko's -1)
            if _closed_by_drop(client):
                self._forget(host, client)
                raise UnreachableError(f"{where}: the connection dropped while running "
                                       f"`{describe(command)}`; it may or may not have finished "
                                       "on the host", host=host.name)
            return CommandResult(-1, stdout, stderr)  # e.g. killed by a signal: no status sent
        status = chan.exit_status
        if status in _TIMED_OUT and time.monotonic() - start >= timeout:
            raise _timed_out(host, where, command, timeout)
        return CommandResult(status, stdout, stderr)

    # -- connections --------------------------------------------------------------

    def _port(self, host: Host) -> int:
        return host.port or self.ssh.port

    def _where(self, host: Host) -> str:
        return f"{self.ssh.user}@{host.address}:{self._port(host)}"

    def _open_session(self, host: Host) -> tuple[paramiko.SSHClient, paramiko.Channel]:
        """A new channel on the host's connection; one reconnect if a cached one went stale."""
        for attempt in (1, 2):
            client = self._client(host)
            transport = client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("SSH session not active")
                return client, transport.open_session(timeout=self.ssh.connect_timeout_s)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._forget(host, client)
                if attempt == 2:
                    raise UnreachableError(f"{self._where(host)}: cannot open a session "
                                           f"({_reason(exc)})", host=host.name) from exc
        raise AssertionError("unreachable")

    def _client(self, host: Host) -> paramiko.SSHClient:
        key = (host.address, self._port(host))
        with self._lock:
            host_lock = self._host_locks.setdefault(key, threading.Lock())
        with host_lock:
            client = self._clients.get(key)
            transport = client.get_transport() if client else None
            if client is not None and transport is not None and transport.is_active():
                return client
            if client is not None:
                self._forget(host, client)
            client = self._connect(host)
            with self._lock:
                self._clients[key] = client
            return client

    def _forget(self, host: Host, client: paramiko.SSHClient) -> None:
        """Drop a broken connection so that the next run reconnects."""
        key = (host.address, self._port(host))
        with self._lock:
            if self._clients.get(key) is client:
                del self._clients[key]
        client.close()

    def _connect(self, host: Host) -> paramiko.SSHClient:
        pkey = self._keys.private_key()
        port, where, timeout = self._port(host), self._where(host), self.ssh.connect_timeout_s
        client = paramiko.SSHClient()
        self._keys.load_known_hosts(client.get_host_keys())
        client.set_missing_host_key_policy(RejectUnknown())
        try:
            client.connect(host.address, port=port, username=self.ssh.user, pkey=pkey,
                           timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                           channel_timeout=timeout, look_for_keys=False, allow_agent=False)
        except UnknownHostKey as exc:
            client.close()
            fingerprint = exc.key.fingerprint
            line = host_key_line(host.address, port, exc.key)
            raise HostKeyError(
                f"{where}: unknown host key {fingerprint} ({exc.key.get_name()}); refused. "
                f"Check that fingerprint on the host itself (ssh-keygen -lf "
                f"/etc/ssh/ssh_host_*_key.pub), then add this line to "
                f"{self._keys.known_hosts_source()}:\n{line}",
                host=host.name, fingerprint=fingerprint, known_hosts_line=line,
                changed=False) from exc
        except paramiko.BadHostKeyException as exc:
            client.close()
            got, expected = exc.key.fingerprint, exc.expected_key.fingerprint
            raise HostKeyError(
                f"{where}: host key CHANGED — possible man-in-the-middle attack; refused. "
                f"known_hosts expects {expected}, the server presented {got} "
                f"({exc.key.get_name()}). If the host was rebuilt on purpose, verify the new "
                f"key on the host and replace its line in {self._keys.known_hosts_source()}.",
                host=host.name, fingerprint=got,
                known_hosts_line=host_key_line(host.address, port, exc.key),
                changed=True) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise UnreachableError(
                f"{where}: the server refused our key ({pkey.get_name()} {pkey.fingerprint}) "
                f"for {self.ssh.user}@{host.address}; add its public key to that user's "
                f"authorized_keys on the host, or check [ssh].user", host=host.name) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise UnreachableError(f"cannot reach {where}: {_reason(exc, timeout)}",
                                   host=host.name) from exc
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
            if isinstance(transport.sock, socket.socket):  # small request/reply packets:
                # without TCP_NODELAY each new channel waits ~40 ms for a delayed ACK
                transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

def _reason(exc: BaseException, timeout: float | None = None) -> str:
    """Say in words why a connection failed."""
    within = f" within {timeout:g}s" if timeout else ""
    if isinstance(exc, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
        return "connection refused (is sshd listening on that address and port?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"no answer{within}"
    if isinstance(exc, EOFError):
        return "the server closed the connection"
    text = str(exc) or type(exc).__name__
    if "banner" in text or text == "No existing session":  # paramiko's handshake timeouts
        return f"no SSH handshake{within} (is it an SSH server, and not overloaded?)"
    return text


def _closed_by_drop(client: paramiko.SSHClient) -> bool:
    """Whether a channel closed because its connection died (paramiko unlinks the
    channels just before it marks the transport inactive: give it a moment)."""
    until = time.monotonic() + 1.0
    while (transport := client.get_transport()) is not None and transport.is_active():
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)
    return True


def _collect_output(chan: paramiko.Channel, out: LineBuffer, err: LineBuffer,
                    deadline: float) -> bool:
    """Stream the channel's output until the command has exited and all output arrived;
    return False if ``deadline`` passed first."""
    while True:
        while chan.recv_ready():
            out.feed(chan.recv(_CHUNK))
        while chan.recv_stderr_ready():
            err.feed(chan.recv_stderr(_CHUNK))
        finished = chan.closed or (chan.eof_received and chan.status_event.is_set())
        if finished and not (chan.recv_ready() or chan.recv_stderr_ready()):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if chan.eof_received:  # the channel's pipe stays readable after EOF: wait on status
            chan.status_event.wait(min(left, 0.05))
        else:
            select.select([chan], [], [], min(left, 0.5))


def _timed_out(host: Host, where: str, command: str, timeout: float) -> CommandTimeout:
    return CommandTimeout(f"{where}: `{describe(command)}` ran past its {timeout:g}s timeout "
                          "and was stopped", host=host.name, timeout=timeout)
