"""One sandbox app host: a checkout of the origin served by its own gunicorn.

gunicorn runs without --preload, so ``kill -HUP`` on the master starts new
workers that import the checkout afresh and retires the old ones gracefully:
the listening socket stays open and no connection is refused meanwhile.
"""
from __future__ import annotations

import errno
import functools
import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from deploy_core.errors import Deadline
from deploy_core.poll import wait_until

from . import repo


class SandboxError(RuntimeError):
    """The sandbox could not start or stop something; the message says what."""


def ensure_free(address: tuple[str, int], what: str) -> None:
    """Raise SandboxError naming ``address`` if something already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise SandboxError(f"{what} address {address[0]}:{address[1]} is {reason}") from None


def fetch(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET ``url`` on a new connection (Connection: close); return status and body."""
    _scheme, _, rest = url.partition("://")  # http only: the sandbox serves nothing else
    netloc, slash, path = rest.partition("/")
    host, _, port = netloc.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request("GET", slash + path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


class AppHost:
    """gunicorn serving ``checkout`` at ``address`` as one colour of the sandbox."""

    def __init__(self, colour: str, identity: str, address: tuple[str, int], checkout: Path,
                 python: str = sys.executable, *, run_dir: Path | None = None,
                 start_timeout_s: float = 20.0, stop_timeout_s: float = 10.0) -> None:
        self.colour = colour
        self.identity = identity
        self.address = address
        self.checkout = Path(checkout)
        self.python = python
        self.run_dir = Path(run_dir) if run_dir else self.checkout.parent / "run"
        self.pidfile = self.run_dir / f"{colour}.pid"
        self.logfile = self.run_dir / f"{colour}.log"
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None  # kept after stop, to check nothing is left

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def clone(self, origin: Path, sha: str | None = None) -> str:
        """Clone ``origin`` into the checkout at ``sha`` (default: the first commit)."""
        self.checkout.parent.mkdir(parents=True, exist_ok=True)
        repo.git(self.checkout.parent, "clone", "--quiet", str(origin), str(self.checkout))
        sha = sha or repo.commits(origin)[0]
        repo.git(self.checkout, "checkout", "--quiet", "--force", "--detach", sha)
        return sha

    def command(self) -> list[str]:
        return [self.python, "-m", "gunicorn", "--bind", f"{self.address[0]}:{self.address[1]}",
                "--workers", "2", "--pid", str(self.pidfile), "--chdir", str(self.checkout),
                "--graceful-timeout", "3", "--timeout", "30",
                *_quiet_control_socket(self.python), "app:app"]

    def start(self, wait: bool = True) -> None:
        """Start gunicorn in its own process group; by default wait until healthy."""
        if self.process is not None:
            raise SandboxError(f"{self.colour} host already started")
        ensure_free(self.address, f"{self.colour} host")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BLUEGREEN_IDENTITY": self.identity,
               # Stale .pyc files could outlive a same-second checkout of a same-size app.py.
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
        with open(self.logfile, "ab") as log:
            self.process = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log, start_new_session=True)
        self.pgid = self.process.pid
        if wait:
            self.wait_healthy()

    def healthy(self) -> bool:
        try:
            return fetch(self.url + "/healthz", timeout=2.0)[0] == 200
        except OSError:
            return False

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Wait until /healthz answers 200; fail early if gunicorn exited."""
        def attempt() -> bool | None:
            if self.process is None or self.process.poll() is not None:
                raise SandboxError(f"{self.colour} gunicorn exited before it was healthy:\n"
                                   + self.log_tail())
            return True if self.healthy() else None
        try:
            wait_until(attempt, timeout=timeout or self.start_timeout_s, interval=0.05,
                       max_interval=0.5, what=f"{self.colour} host {self.url}/healthz")
        except Deadline as exc:
            raise SandboxError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.logfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def processes(self) -> list[int]:
        """Live processes of this host's gunicorn (master and workers)."""
        return group_pids(self.pgid) if self.pgid else []

    def reload_command(self) -> str:
        """The shell text that reloads this host's workers gracefully."""
        return f'kill -HUP "$(cat {shlex.quote(str(self.pidfile))})"'

    def reload(self) -> None:
        """Send HUP to the master (what reload_command does)."""
        if self.process is None or self.process.poll() is not None:
            raise SandboxError(f"{self.colour} gunicorn is not running")
        os.kill(self.process.pid, signal.SIGHUP)

    def stop(self) -> None:
        """TERM the master, KILL the group after ``stop_timeout_s``, reap. Idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(5)
        # Workers orphaned by a dying master leave on their own; make sure.
        _signal_group(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while group_pids(process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


@functools.lru_cache(maxsize=None)
def _quiet_control_socket(python: str) -> tuple[str, ...]:
    """gunicorn >= 25.1 opens a control socket at one path per user ($HOME/.gunicorn):
    two sandbox hosts would share it, so turn it off where that gunicorn has it."""
    probe = ("import gunicorn.config as c; "
             "print(any(s.name == 'control_socket_disable' for s in c.KNOWN_SETTINGS))")
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=30)
    return ("--no-control-socket",) if done.stdout.strip() == "True" else ()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found
