"""Switch traffic by rewriting an nginx upstream file on a front host and reloading nginx.

The shell text is built by pure functions (``upstream_text``, ``read_command``,
``write_command``, ``restore_command``) and run through a Transport. The file is
replaced atomically with a backup beside it; a config that fails ``router.test``
or a failed reload puts the previous file back, so traffic stays where it was.
"""
from __future__ import annotations

import contextlib
import re
import shlex
from typing import NoReturn, Sequence
from urllib.parse import urlsplit

from ..config import Config, Host
from ..errors import BluegreenError, RouterError
from ..transports import CommandResult, Transport
from . import RouterState

UPSTREAM = "bluegreen_live"
MARKER = "# bluegreen live: "
BACKUP_SUFFIX = ".bluegreen-prev"
NEW_SUFFIX = ".bluegreen-new"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$|^[0-9A-Fa-f:.]+$")


# -- commands: pure text, compared exactly by the tests ------------------------------------
def upstream_text(colour: str, hosts: Sequence[Host]) -> str:
    """The upstream file that sends traffic to ``colour``: one server per host, from its url."""
    if not hosts:
        raise RouterError(f"colour {colour} has no hosts to send traffic to")
    lines = [f"{MARKER}{colour}", "# written by bluegreen: edits here are overwritten",
             f"upstream {UPSTREAM} {{"]
    lines += [f"    server {server_address(h)};" for h in hosts]
    return "\n".join(lines + ["}", ""])


def server_address(host: Host) -> str:
    """``ADDRESS:PORT`` of a host's web server, taken from its url (port defaults by scheme)."""
    parts = urlsplit(host.url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    name = parts.hostname or ""
    if not port or not _SAFE_NAME.match(name):
        raise RouterError(f"host {host.name}: url {host.url!r} does not name a server for nginx")
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def parse_marker(text: str) -> str | None:
    """The colour named by the marker line, or None when there is none."""
    for line in text.splitlines():
        if line.startswith(MARKER):
            return line[len(MARKER):].strip()
    return None


def read_command(path: str) -> str:
    """Print the file; print nothing (and succeed) when it does not exist."""
    q = shlex.quote(path)
    return f"if [ -e {q} ]; then cat -- {q}; fi"


def write_command(path: str, text: str) -> str:
    """Keep a backup, write beside the target, then rename over it (atomic on one filesystem)."""
    q, prev, new = (shlex.quote(p) for p in (path, path + BACKUP_SUFFIX, path + NEW_SUFFIX))
    return (f"set -e; if [ -e {q} ]; then cp -p -- {q} {prev}; else rm -f -- {prev}; fi; "
            f"printf '%s' {shlex.quote(text)} > {new}; mv -f -- {new} {q}")


def restore_command(path: str) -> str:
    """Put the backup back (or remove the file when there was none before)."""
    q, prev = shlex.quote(path), shlex.quote(path + BACKUP_SUFFIX)
    return f"if [ -e {prev} ]; then mv -f -- {prev} {q}; else rm -f -- {q}; fi"


def front_host(address: str) -> Host:
    """The front host from ``router.host`` ("name" or "name:port", like colour hosts)."""
    name, _, port = address.partition(":") if address.count(":") == 1 else (address, "", "")
    return Host(address=name, port=int(port) if port.isdigit() else None, url="")


# -- the router ---------------------------------------------------------------------------
class NginxRouter:
    """The live colour is the one named in the upstream file's marker."""

    def __init__(self, config: Config, transport: Transport, *, timeout: float | None = None) -> None:
        router = config.router
        if not router.host or not router.upstream_file:
            raise RouterError("the nginx router needs router.host and router.upstream_file")
        self._config = config
        self._transport = transport
        self._host = front_host(router.host)
        self._path = router.upstream_file
        self._timeout = timeout or router.api_timeout_s

    def describe(self) -> str:
        return f"nginx upstream {self._path} on {self._host.name}"

    def read(self) -> RouterState:
        colour = parse_marker(self._read_text())
        if colour is None:
            return RouterState(None, "unassigned", f"{self._path} on {self._host.name} has no "
                               "bluegreen marker")
        if colour in self._config.colours:
            return RouterState(colour, "ok", f"{self._path} on {self._host.name} sends traffic "
                               f"to {colour}")
        return RouterState(None, "foreign", f"{self._path} on {self._host.name} is marked "
                           f"{colour!r}, which is neither colour")

    def switch(self, colour: str) -> None:
        text = upstream_text(colour, self._config.colours[colour].hosts)
        old = self._read_text()
        self._must(write_command(self._path, text), f"write {self._path}")
        try:
            test = self._run(self._config.router.test)
        except BluegreenError:
            with contextlib.suppress(BluegreenError):
                self._restore(old)
            raise
        if test.exit_status != 0:
            self._give_back(old, f"`{self._config.router.test}` rejected the upstream for {colour} "
                            f"(exit {test.exit_status})", test)
        reload = self._run(self._config.router.reload)
        if reload.exit_status != 0:
            self._give_back(old, f"`{self._config.router.reload}` failed (exit "
                            f"{reload.exit_status})", reload)
        if parse_marker(self._read_text()) != colour:
            raise RouterError(f"{self._path} on {self._host.name} does not say {colour} after the switch")

    def _give_back(self, old: str, problem: str, result: CommandResult) -> NoReturn:
        """Put the previous file back, then report ``problem`` with the command's output."""
        tail = _tail(result)
        try:
            self._restore(old)
        except RouterError as exc:
            raise RouterError(f"{problem}, and then {exc}:\n{tail}", output=tail) from exc
        raise RouterError(f"{problem}; the previous file is back and traffic is unchanged:\n{tail}",
                          output=tail)

    def _restore(self, old: str) -> None:
        self._must(restore_command(self._path), f"restore {self._path}")
        if self._read_text().rstrip("\n") != old.rstrip("\n"):
            raise RouterError(f"the previous {self._path} is not back on {self._host.name}: "
                              "check it by hand before nginx next reloads")

    def _read_text(self) -> str:
        return self._must(read_command(self._path), f"read {self._path}").stdout

    def _must(self, command: str, what: str) -> CommandResult:
        result = self._run(command)
        if result.exit_status != 0:
            raise RouterError(f"could not {what} on {self._host.name} (exit {result.exit_status}):"
                              f"\n{_tail(result)}", output=_tail(result))
        return result

    def _run(self, command: str) -> CommandResult:
        return self._transport.run(self._host, command, timeout=self._timeout)


def _tail(result: CommandResult, lines: int = 12) -> str:
    text = (result.stdout + "\n" + result.stderr).strip()
    return "\n".join(text.splitlines()[-lines:])
