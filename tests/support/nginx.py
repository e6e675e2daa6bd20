"""Real nginx servers for tests: an importable library and a pytest plugin.

Each nginx runs in the foreground with its own prefix directory holding its
config, pid, logs and temp paths, and listens only on the 127.0.0.x address it
is given (never 0.0.0.0, never Debian's default site). A missing nginx binary
fails the test run: these tests never skip.

Fixture ``front_nginx``: the front host of the nginx router, on 127.0.0.14:8080,
proxying to the upstream ``bluegreen_live`` defined in an included file.
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import pytest

from deploy_core.config import Host
from deploy_core.errors import CommandTimeout
from deploy_core.transports import CommandResult, LineCallback

FRONT_LISTEN = ("127.0.0.14", 8080)
PLACEHOLDER_UPSTREAM = "upstream bluegreen_live {\n    server 127.0.0.1:9;\n}\n"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("nginx is not installed (apt-get install -y nginx): these tests need a real one")
    return found


def _q(path: Path | str) -> str:
    """A path as an nginx config string."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Nginx:
    """One nginx master in the foreground, everything it writes under ``prefix``."""

    prefix: Path
    binary: str = field(default_factory=nginx_binary)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    def argv(self, *extra: str) -> list[str]:
        return [self.binary, *extra, "-p", f"{self.prefix}/", "-e", str(self.prefix / "error.log"),
                "-c", str(self.conf)]

    @property
    def test_command(self) -> str:
        return shlex.join(self.argv("-t"))

    @property
    def reload_command(self) -> str:
        return shlex.join(self.argv("-s", "reload"))

    def write_conf(self, http_body: str) -> None:
        tmp = self.prefix / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temps = "\n".join(f"    {kind}_temp_path {_q(tmp / kind)};"
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {_q(self.prefix / 'nginx.pid')};\n"
            f"error_log {_q(self.prefix / 'error.log')} info;\n"
            "events { worker_connections 128; }\n"
            f"http {{\n    access_log {_q(self.prefix / 'access.log')};\n{temps}\n"
            f"{http_body}\n}}\n")

    def start(self, listen: Sequence[tuple[str, int]], timeout: float = 5.0) -> Nginx:
        log = open(self.prefix / "stderr.log", "ab")
        self.proc = subprocess.Popen(self.argv("-g", "daemon off;"), stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        waiting = list(listen)
        while waiting:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"nginx in {self.prefix} did not start:\n{self.log_tail()}")
            try:
                socket.create_connection(waiting[0], timeout=0.2).close()
                waiting.pop(0)
            except OSError:
                time.sleep(0.02)
        return self

    def reload(self, timeout: float = 5.0) -> None:
        """Reload and return once every old worker has gone (until then both answer)."""
        old = self.workers()
        done = subprocess.run(self.argv("-s", "reload"), capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            pytest.fail(f"nginx reload failed: {done.stderr}\n{self.log_tail()}")
        self.wait_workers_replaced(old, timeout)

    def workers(self) -> set[int]:
        """Pids of the master's worker processes (from /proc)."""
        if self.proc is None:
            return set()
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.proc.pid:
                found.add(int(stat.parent.name))
        return found

    def wait_workers_replaced(self, old: set[int], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            now = self.workers()
            if now and not now & old:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"nginx workers {sorted(now & old)} did not go after a reload:\n"
                            f"{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class FrontNginx:
    """The nginx router's front host: ``url`` proxies to whatever the upstream file names."""

    nginx: Nginx
    upstream_file: Path
    listen: tuple[str, int] = FRONT_LISTEN

    @property
    def url(self) -> str:
        return f"http://{self.listen[0]}:{self.listen[1]}"

    def reset(self, text: str = PLACEHOLDER_UPSTREAM) -> None:
        """Put ``text`` in the upstream file and reload (a test's known starting point)."""
        self.upstream_file.write_text(text)
        Path(f"{self.upstream_file}.bluegreen-prev").unlink(missing_ok=True)
        self.nginx.reload()


def front_conf(upstream_file: Path, listen: tuple[str, int]) -> str:
    return (f"    include {_q(upstream_file)};\n"
            f"    server {{\n        listen {listen[0]}:{listen[1]};\n"
            "        location / {\n"
            "            proxy_pass http://bluegreen_live;\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
            "            proxy_connect_timeout 2s;\n"
            "            proxy_read_timeout 5s;\n"
            "        }\n    }")


def start_front(prefix: Path, listen: tuple[str, int] = FRONT_LISTEN) -> FrontNginx:
    """nginx on ``listen`` including ``prefix/conf.d/bluegreen live.conf`` (a space, on purpose)."""
    upstream = prefix / "conf.d" / "bluegreen live.conf"
    upstream.parent.mkdir(parents=True, exist_ok=True)
    upstream.write_text(PLACEHOLDER_UPSTREAM)
    nginx = Nginx(prefix)
    nginx.write_conf(front_conf(upstream, listen))
    return FrontNginx(nginx.start([listen]), upstream, listen)


@pytest.fixture(scope="session")
def front_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontNginx]:
    front = start_front(tmp_path_factory.mktemp("front-nginx"))
    try:
        yield front
    finally:
        front.nginx.stop()


class ShellTransport:
    """A tiny Transport for tests: runs the shell text locally with subprocess, ignoring the host."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, host: Host, command: str, *, cwd: str | None = None, timeout: float = 600.0,
            on_line: LineCallback | None = None) -> CommandResult:
        self.commands.append(command)
        try:
            done = subprocess.run(["/bin/sh", "-c", command], cwd=cwd, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(f"{command!r} ran past {timeout:g}s", host=host.name) from None
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def close(self) -> None:
        pass
