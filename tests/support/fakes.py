"""Fakes that refuse the unexpected, for testing the runbook in memory (milliseconds).

- ``ScriptedTransport``: a map from command to result (or to a function of the host);
  a command nobody scripted raises ``Unexpected`` — a test can never pass by accident.
- ``FakeRouter``: the live colour plus the list of switches it was asked for; failures
  can be queued; ``on_switch`` lets the world follow it.
- ``FakeHTTP``: a map from URL to answer (or to a function); an unscripted URL raises.
- ``FakeFleet``: the three wired together like production — each host serves a release,
  a health answer and a page; the public URL answers whatever the router points at; a
  deploy step ``git checkout`` changes what the host has checked out and the reload step
  makes it serve it — plus a real SQLite store and a Pipeline over all of it.
- ``Recorder``: a pipeline listener that keeps every event (the e2e tests use it too).

Only the peers are fake: the pipeline, the rules, the store and the events are real.
"""
from __future__ import annotations

import dataclasses
import re
import sqlite3
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from deploy_core import config as config_mod
from deploy_core.config import Config, Host
from deploy_core.errors import BluegreenError
from deploy_core.events import Event
from deploy_core.pause import Pause
from deploy_core.pipeline import Pipeline
from deploy_core.routers import RouterState
from deploy_core.store import Store
from deploy_core.transports import CommandResult
from deploy_core.web import Answer


class Unexpected(AssertionError):
    """A fake was asked for something no test scripted."""


class Recorder(list):
    """A pipeline listener that keeps every event."""

    def __call__(self, event: Event) -> None:
        self.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self if isinstance(e, kind)]


# -- transport -----------------------------------------------------------------------------
DONE = CommandResult(0, "", "")
Reply = CommandResult | BluegreenError | Callable[[Host, str], CommandResult]


class ScriptedTransport:
    def __init__(self) -> None:
        self._script: list[tuple[re.Pattern[str] | str, Reply]] = []
        self.ran: list[tuple[str, str, str | None]] = []       # (host name, command, cwd)

    def on(self, command: str | re.Pattern[str], reply: Reply = DONE) -> None:
        """Answer ``command`` (exact text, or a compiled pattern) with ``reply``; the newest
        script for a command wins."""
        self._script.insert(0, (command, reply))

    def run(self, host: Host, command: str, *, cwd: str | None = None, timeout: float = 600.0,
            on_line: Any = None) -> CommandResult:
        reply = next((r for p, r in self._script
                      if (p == command if isinstance(p, str) else p.fullmatch(command))), None)
        if reply is None:
            raise Unexpected(f"unscripted command on {host.name}: {command!r}")
        self.ran.append((host.name, command, cwd))
        if isinstance(reply, BluegreenError):
            raise reply
        result = reply(host, command) if callable(reply) else reply
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            for line in text.splitlines():
                if on_line is not None:
                    on_line(stream, line)
        return result

    def commands(self, host: str | None = None) -> list[str]:
        return [c for h, c, _ in self.ran if host is None or h == host]

    def close(self) -> None:
        pass


# -- router --------------------------------------------------------------------------------
class FakeRouter:
    def __init__(self, live: str | None = "blue", status: str = "ok") -> None:
        self.live = live
        self.status = status
        self.switches: list[str] = []                  # every switch it was asked for
        self.failures: list[BluegreenError] = []       # raised by the next switches, in order
        self.on_switch: Callable[[str], None] | None = None

    def read(self) -> RouterState:
        if self.status != "ok":
            return RouterState(None, self.status, f"the fake router is {self.status}")
        return RouterState(self.live, "ok", f"fake router on {self.live}")

    def switch(self, colour: str) -> None:
        self.switches.append(colour)
        if self.failures:
            raise self.failures.pop(0)
        self.live, self.status = colour, "ok"
        if self.on_switch is not None:
            self.on_switch(colour)

    def describe(self) -> str:
        return "a fake router"


# -- HTTP ----------------------------------------------------------------------------------
Response = Answer | Callable[[], Answer]


def ok(text: str) -> Answer:
    return Answer(True, 200, text, "HTTP 200")


def status(code: int, text: str = "") -> Answer:
    return Answer(200 <= code < 300, code, text, f"HTTP {code}")


REFUSED = Answer(False, None, "", "connection failed (connection refused)")


class FakeHTTP:
    def __init__(self) -> None:
        self._routes: dict[str, Response] = {}
        self.asked: list[str] = []

    def answer(self, url: str, response: Response) -> None:
        self._routes[url] = response

    def get(self, url: str, timeout: float) -> Answer:
        if url not in self._routes:
            raise Unexpected(f"unscripted GET {url}")
        self.asked.append(url)
        response = self._routes[url]
        return response() if callable(response) else response

    def count(self, url: str) -> int:
        return self.asked.count(url)


# -- a fleet of the three --------------------------------------------------------------------
CONFIG = """
[app]
name = "shop"
public_url = "http://shop.test"
release_path = "/version"
request_timeout_s = 1

[deploy]
transport = "local"
path = "/srv/{colour}"
steps = ["git checkout --force --detach {sha}", "reload"]
health_timeout_s = 0.3
health_interval_s = 0.01
lease_s = 30

[promote]
verify_count = 3
verify_interval_s = 0
verify_timeout_s = 0.3

[[smoke]]
name = "home page"
path = "/"
contains = "Welcome"

[colours.blue]
identity = "blue-prod"
hosts = [{ address = "10.0.0.2", url = "http://blue.test" }]

[colours.green]
identity = "green-prod"
hosts = [{ address = "10.0.0.3", url = "http://green.test" }]

[router]
kind = "nginx"
host = "10.0.0.9"
upstream_file = "/etc/nginx/live.conf"

[ssh]
key_file = "/dev/null"
known_hosts = "/dev/null"
"""
A, B, C = "a" * 40, "b" * 40, "c" * 40


class FakeHost:
    """What one app host has checked out and serves: its release, health and home page."""

    def __init__(self, host: Host, identity: str, sha: str) -> None:
        self.host = host
        self.identity = identity
        self.checked_out = sha
        self.serves = sha
        self.healthy = True
        self.page = "Welcome to shop"
        self.reload_serves: bool = True        # False: a reload that never boots new workers


class FakeFleet:
    """Blue and green (one host each), blue live, both serving ``A``; origin refs in
    ``refs``. ``pipeline()`` builds a Pipeline over the fakes and a real SQLite store."""

    def __init__(self, tmp_path: Path, text: str = CONFIG, **sections: dict[str, Any]) -> None:
        data = tomllib.loads(text)
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        self.config: Config = config_mod.parse(data, {})
        self.db_path = tmp_path / "state.db"
        self.store = Store(f"sqlite:///{self.db_path}")
        self.transport = ScriptedTransport()
        self.router = FakeRouter("blue")
        self.http = FakeHTTP()
        self.events = Recorder()
        self.refs: dict[str, str] = {"main": B}
        self.hosts = {c.name: FakeHost(c.hosts[0], c.identity, A) for c in self.config.colours.values()}
        self._pipelines: list[Pipeline] = []
        self._script()

    def configure(self, **sections: dict[str, Any]) -> FakeFleet:
        """Change fields of config sections: ``configure(app={"release_path": None})``."""
        for name, values in sections.items():
            section = dataclasses.replace(getattr(self.config, name), **values)
            self.config = dataclasses.replace(self.config, **{name: section})
        return self

    def free_lock_behind_our_back(self) -> None:
        """What another process does when our lease expired: free the operation lock."""
        with sqlite3.connect(self.db_path) as db:
            db.execute("UPDATE locks SET owner = NULL, lease_until = NULL WHERE name = 'operation'")

    def pipeline(self, pause: Pause | None = None) -> Pipeline:
        p = Pipeline(self.config, store=self.store, transport=self.transport, router=self.router,
                     listener=self.events, http=self.http, pause=pause)
        self._pipelines.append(p)
        return p

    def close(self) -> None:
        self.store.close()

    # -- scripting ---------------------------------------------------------------------------
    def _script(self) -> None:
        t = self.transport
        t.on("git fetch --prune --tags origin")
        t.on(re.compile(r"git rev-parse --verify --quiet '?refs/remotes/origin/.*"), self._resolve)
        t.on(re.compile(r"git checkout --force --detach '?([0-9a-f]{40})'?"), self._checkout)
        t.on("reload", self._reload)
        t.on(re.compile(r"git log --no-merges .*"), self._log)
        t.on("git rev-parse --verify HEAD", lambda h, c: CommandResult(0, self._of(h).checked_out + "\n", ""))
        for fake in self.hosts.values():
            url = fake.host.url
            self.http.answer(url + "/version", lambda f=fake: ok(f.serves + "\n"))
            self.http.answer(url + "/healthz", lambda f=fake: ok("ok") if f.healthy else status(503, "down"))
            self.http.answer(url + "/", lambda f=fake: ok(f"{f.page} ({f.serves[:7]})"))
        public = self.config.app.public_url
        self.http.answer(public + "/hostname", lambda: self._public_answer("identity"))
        self.http.answer(public + "/version", lambda: self._public_answer("release"))

    def _of(self, host: Host) -> FakeHost:
        return next(f for f in self.hosts.values() if f.host.address == host.address)

    def _resolve(self, host: Host, command: str) -> CommandResult:
        ref = command.split("refs/remotes/origin/", 1)[1].split("^", 1)[0]
        sha = self.refs.get(ref)
        return CommandResult(0, sha + "\n", "") if sha else CommandResult(1, "", "")

    def _checkout(self, host: Host, command: str) -> CommandResult:
        sha = re.search(r"[0-9a-f]{40}", command)
        assert sha is not None
        self._of(host).checked_out = sha.group(0)
        return CommandResult(0, "", "")

    def _reload(self, host: Host, command: str) -> CommandResult:
        fake = self._of(host)
        if fake.reload_serves:
            fake.serves = fake.checked_out
        return CommandResult(0, "", "")

    def _log(self, host: Host, command: str) -> CommandResult:
        """Release notes: the new release's own commit (subject "release <sha7>")."""
        new = command.rsplit("..", 1)[-1].rsplit(" ", 1)[-1]
        return CommandResult(0, f"{new}\x1fAda Lovelace\x1frelease {new[:7]}\n", "")

    def _public(self) -> FakeHost | None:
        return self.hosts.get(self.router.live or "")

    def _public_answer(self, what: str) -> Answer:
        behind = self._public()
        if behind is None or self.router.status != "ok":
            return REFUSED
        return ok(behind.identity if what == "identity" else behind.serves)

    # -- shortcuts for tests -------------------------------------------------------------------
    def steps_ran(self, host: str) -> list[str]:
        """Commands run on the host named ``host`` (e.g. "10.0.0.3")."""
        return self.transport.commands(host)


def names(events: Iterable[Any]) -> list[tuple[str, str | None, bool | None]]:
    """(step name, host, ok) of every StepFinished, in order."""
    from deploy_core.events import StepFinished
    return [(e.name, e.host, e.ok) for e in events if isinstance(e, StepFinished)]
