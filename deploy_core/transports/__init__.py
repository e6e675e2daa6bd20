"""Run commands on hosts: one small interface, two implementations."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from ..config import Host

LineCallback = Callable[[str, str], None]  # (stream, line) with stream "stdout" | "stderr"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


class Transport(Protocol):
    """Runs shell commands on hosts; one connection per host reused until ``close``."""

    def run(self, host: Host, command: str, *, cwd: str | None = None,
            timeout: float = 600.0, on_line: LineCallback | None = None) -> CommandResult:
        """Run ``command`` (shell text, already quoted) in ``cwd`` on ``host``; stream each
        output line to ``on_line``; raise CommandTimeout past ``timeout`` seconds,
        UnreachableError/HostKeyError when the host cannot be reached safely."""
        ...

    def close(self) -> None: ...
