"""Smoke checks of one idle host: an HTTP request (``path``), or your own end-to-end
tests (``run``), a command run where bluegreen runs with ``{url}`` the host's URL.

A ``run`` command is configuration, not user input: it runs with bluegreen's
privileges but without its secrets in the environment, in the configuration file's
directory, in its own process group (killed whole when it overruns ``timeout_s``),
and its output is kept bounded.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import web
from .config import Config, SmokeCheck
from .errors import CommandTimeout
from .refs import RUN_PLACEHOLDERS, render
from .transports import LineCallback
from .transports.local import LocalTransport

TAIL = 12


@dataclass(frozen=True)
class SmokeOutcome:
    ok: bool
    detail: str                 # what was expected and what came back
    command: str = ""           # the command a `run` check ran ("" for HTTP checks)
    exit_status: int | None = None
    output: str = ""            # bounded
    tail: tuple[str, ...] = ()


def check_host(config: Config, http: web.HTTP, check: SmokeCheck, url: str,
               on_line: LineCallback | None = None) -> SmokeOutcome:
    """Run one smoke check against the host at ``url``."""
    timeout = check.timeout(config.app.request_timeout_s)
    if check.run is None:
        answer = web.smoke(http, url, check, timeout)
        return SmokeOutcome(answer.ok, answer.detail)
    command = render(check.run, {"url": url}, RUN_PLACEHOLDERS)
    cwd = str(config.path.parent) if config.path is not None else None
    transport = LocalTransport(kill_after=2.0, keep=config.deploy.output_limit)
    try:
        result = transport.run(None, command, cwd=cwd, timeout=timeout, on_line=on_line)
    except CommandTimeout:
        return SmokeOutcome(False, f"`{check.name}` ran past its {timeout:g}s timeout and was "
                                   "stopped", command, None)
    lines = [*result.stdout.splitlines(), *(f"[stderr] {x}" for x in result.stderr.splitlines())]
    tail = tuple(lines[-TAIL:])
    output = "\n".join(lines)
    if result.exit_status != 0:
        last = " | ".join(line.strip() for line in tail[-3:] if line.strip())
        return SmokeOutcome(False, f"`{check.name}` exited {result.exit_status}"
                                   + (f": {last[:300]}" if last else ""),
                            command, result.exit_status, output, tail)
    return SmokeOutcome(True, f"`{check.name}` passed (exit 0)", command, 0, output, tail)
