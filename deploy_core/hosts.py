"""Work on the idle colour's hosts: fetch, resolve REF, run steps, release proof, health, smoke.

Hosts run in parallel; each command is recorded with its (bounded) output and
streamed as events. The live colour is never touched here.
"""
from __future__ import annotations

import re
import shlex
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

from . import web
from .config import Config, Host, SmokeCheck
from .errors import (BluegreenError, Cancelled, Deadline, HealthError, ReleaseError, StepFailed,
                     TransportError, UnknownRef)
from .events import Callback, OutputLine
from .refs import short
from .poll import wait_until
from .refs import render, render_path
from .smoke import SmokeOutcome, check_host
from .steps import step
from .transports import Transport

_HEX = re.compile(r"[0-9a-f]{4,40}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
TAIL = 12


def resolve_command(ref: str) -> str:
    """Shell text that prints REF's commit: origin branch, then tag, then commit."""
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    tries = [f"refs/remotes/origin/{branch}^{{commit}}"]
    if not ref.startswith("refs/heads/"):
        tries.append(f"refs/tags/{ref}^{{commit}}")
    parts = [shlex.join(["git", "rev-parse", "--verify", "--quiet", t]) for t in tries]
    if _HEX.fullmatch(ref):
        parts.append(shlex.join(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"]))
    return " || ".join(parts)


def brief(command: str, limit: int = 48) -> str:
    """A step's name for people: its command, cut to ``limit`` characters."""
    text = " ".join(command.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class HostRunner:
    """Runs one deployment's commands on the hosts of one colour."""

    def __init__(self, config: Config, transport: Transport, store, http: web.HTTP, *,
                 dep_id: int, colour: str, ref: str, emit: Callback,
                 cancelled: Callable[..., bool]) -> None:
        self.cfg = config
        self.transport = transport
        self.store = store
        self.http = http
        self.dep_id = dep_id
        self.colour = colour
        self.ref = ref
        self.emit = emit
        self.cancelled = cancelled
        self.abort = threading.Event()

    def _cwd(self, host: Host) -> str:
        return render_path(self.cfg.deploy.path, {"colour": self.colour, "host": host.address})

    def run(self, host: Host, name: str, command: str) -> str:
        """Run one command on one host, streaming and recording it; raise on failure."""
        started = datetime.now(timezone.utc)
        lines: list[str] = []
        lock = threading.Lock()

        def on_line(stream: str, line: str) -> None:
            with lock:
                lines.append(line if stream == "stdout" else f"[stderr] {line}")
            self.emit(OutputLine(name=name, host=host.name, stream=stream, line=line,
                                 op_id=self.dep_id))
        status: int | None = None
        with step(self.emit, name, host.name, self.dep_id) as s:
            try:
                result = self.transport.run(host, command, cwd=self._cwd(host),
                                            timeout=self.cfg.deploy.step_timeout_s, on_line=on_line)
                status = result.exit_status
            except TransportError as exc:
                lines.append(f"[bluegreen] {exc}")
                s.fail(str(exc), lines[-TAIL:])
                self.abort.set()
                raise
            finally:
                self.store.record_step(self.dep_id, host.name, name, command, status,
                                       "\n".join(lines), started, datetime.now(timezone.utc))
            if status != 0:
                error = StepFailed(f"{name} failed on {host.name} (exit {status})", host=host.name,
                                   command=command, exit_status=status, tail=lines[-TAIL:])
                s.fail(str(error), lines[-TAIL:])
                self.abort.set()
                raise error
        return "\n".join(lines)

    def _each(self, hosts, work: Callable[[Host], object]) -> list:
        """Run ``work`` for every host in parallel; raise the first host's error."""
        if len(hosts) == 1:
            return [work(hosts[0])]
        with ThreadPoolExecutor(max_workers=min(len(hosts), 32)) as pool:
            futures = [pool.submit(work, h) for h in hosts]
            errors = [f.exception() for f in futures]
        failed = [e for e in errors if e is not None]
        if failed:
            # a host stopped because another one failed is not the cause: report the failure
            causes = [e for e in failed if not isinstance(e, Cancelled)] or failed
            first = causes[0]
            if len(causes) > 1 and isinstance(first, BluegreenError):
                raise first.extended(f" ({len(causes)} of {len(hosts)} hosts failed)") from first
            raise first
        return [f.result() for f in futures]

    def _check_cancel(self, fresh: bool = False) -> None:
        if self.cancelled(fresh):
            self.abort.set()
            raise Cancelled(f"deploy #{self.dep_id} was cancelled; {self.colour} is not promotable")

    def fetch(self, hosts) -> None:
        if self.cfg.deploy.fetch:
            self._each(hosts, lambda h: self.run(h, "fetch", self.cfg.deploy.fetch))
        self._check_cancel()

    def resolve(self, host: Host) -> str:
        try:
            out = self.run(host, "resolve", resolve_command(self.ref))
        except StepFailed as exc:
            text = "\n".join(exc.tail)
            if "ambiguous" in text:
                raise UnknownRef(f"REF {self.ref!r} is ambiguous on {host.name}: "
                                 f"use a longer sha or a branch or tag") from None
            raise UnknownRef(f"no branch, tag or commit named {self.ref!r} on {host.name} "
                             f"(after fetch)") from None
        sha = out.strip().splitlines()[-1].strip() if out.strip() else ""
        if not _FULL_SHA.fullmatch(sha):
            raise UnknownRef(f"could not resolve {self.ref!r} on {host.name}: got {sha[:60]!r}")
        return sha

    def steps(self, hosts, sha: str) -> None:
        self._check_cancel(fresh=True)      # ask the database before the first step runs

        def on_host(host: Host) -> None:
            values = {"sha": sha, "ref": self.ref, "colour": self.colour, "host": host.address}
            for i, template in enumerate(self.cfg.deploy.steps, 1):
                if self.abort.is_set():
                    raise Cancelled("stopped because another host failed") if not self.cancelled() \
                        else Cancelled(f"deploy #{self.dep_id} was cancelled")
                self._check_cancel()
                self.run(host, f"step {i}: {brief(template)}", render(template, values))
        try:
            self._each(hosts, on_host)
        except Cancelled:
            self._check_cancel()
            raise
        self._check_cancel()

    def wait_served(self, hosts, sha: str) -> None:
        """Release proof, then health: every host within ``health_timeout_s``.

        A graceful reload returns before the new workers serve, so until a host answers
        the deployed sha at ``release_path`` its health could be the old release's."""
        deploy, app = self.cfg.deploy, self.cfg.app

        def on_host(host: Host) -> None:
            deadline = time.monotonic() + deploy.health_timeout_s
            if app.release_path:
                self._await(host, "release", deadline, self._serves(host, sha, app.release_path),
                            lambda last: ReleaseError(
                                f"release proof failed on {self.colour}: {_still(host, last, sha)} "
                                f"after {deploy.health_timeout_s:g}s", host=host.name))
            self._await(host, "health", deadline, self._healthy(host),
                        lambda last: HealthError(
                            f"health check failed on {self.colour}: {host.url}{app.health_path} "
                            f"never answered 2xx within {deploy.health_timeout_s:g}s (last: {last})",
                            host=host.name))
        self._each(hosts, on_host)

    def _serves(self, host: Host, sha: str, path: str) -> Callable[[float], tuple[bool, str]]:
        def attempt(left: float) -> tuple[bool, str]:
            answer = self.http.get(host.url + path, min(self.cfg.app.request_timeout_s, 5.0, left))
            served = web.release_sha(answer.text) if answer.ok else None
            return web.same_release(served, sha), web.describe_release(answer, path)
        return attempt

    def _healthy(self, host: Host) -> Callable[[float], tuple[bool, str]]:
        app = self.cfg.app

        def attempt(left: float) -> tuple[bool, str]:
            answer = self.http.get(host.url + app.health_path, min(app.request_timeout_s, 5.0, left))
            return answer.ok, answer.detail
        return attempt

    def _await(self, host: Host, name: str, deadline: float,
               attempt: Callable[[float], tuple[bool, str]],
               failure: Callable[[str], BluegreenError]) -> None:
        """Poll ``attempt`` until it passes; at ``deadline`` raise ``failure(last answer)``."""
        last = ["no answer yet"]

        def once() -> bool | None:
            if self.cancelled() or self.abort.is_set():
                raise Cancelled(f"deploy #{self.dep_id} was cancelled")
            # a host that never answers must not stretch the wait past the deadline
            ok, last[0] = attempt(max(deadline - time.monotonic(), 0.2))
            return True if ok else None
        with step(self.emit, name, host.name, self.dep_id) as s:
            try:
                wait_until(once, timeout=max(deadline - time.monotonic(), 0.0),
                           interval=self.cfg.deploy.health_interval_s, max_interval=2.0,
                           what=f"{host.name}: {name}")
            except Deadline:
                self.abort.set()
                error = failure(last[0])
                s.fail(str(error))
                raise error from None
            s.detail = last[0]

    def smoke(self, hosts) -> str | None:
        """Run every smoke check on every host; return the failures' text, or None."""
        def on_host(host: Host) -> list[str]:
            failures = []
            for check in self.cfg.smoke:
                outcome = self._smoke_one(host, check)
                if not outcome.ok:
                    failures.append(f"{check.name!r} on {host.name}: {outcome.detail}")
            return failures
        failures = [f for per_host in self._each(hosts, on_host) for f in per_host]
        return "; ".join(failures) if failures else None

    def _smoke_one(self, host: Host, check: SmokeCheck) -> SmokeOutcome:
        name = f"smoke: {check.name}"
        started = datetime.now(timezone.utc)

        def on_line(stream: str, line: str) -> None:
            self.emit(OutputLine(name=name, host=host.name, stream=stream, line=line,
                                 op_id=self.dep_id))
        with step(self.emit, name, host.name, self.dep_id) as s:
            outcome = check_host(self.cfg, self.http, check, host.url, on_line)
            if check.run is not None:       # your own tests: their output goes to the deploy's log
                self.store.record_step(self.dep_id, host.name, name, outcome.command,
                                       outcome.exit_status, outcome.output, started,
                                       datetime.now(timezone.utc))
            s.detail = outcome.detail
            if not outcome.ok:
                s.fail(outcome.detail, outcome.tail)
        return outcome


def _still(host: Host, last: str, sha: str) -> str:
    """What a host serves instead of ``sha``, e.g. '127.0.0.3 still serves 1a2b3c4'."""
    if web.release_sha(last):
        return f"{host.name} still serves {last} (not {short(sha)})"
    return f"{host.name} never answered {short(sha)} ({last})"
