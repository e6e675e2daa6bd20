"""The production-shaped fleet on DESIGN.md's end-to-end addresses, for tests and benchmarks.

blue and green are each a real sshd (127.0.0.12/13:2222) whose host runs the sample app
under gunicorn on a unix socket behind its own nginx (127.0.0.12/13:8081), as the seed's
droplets do. The front host (sshd 127.0.0.14:2222, nginx 127.0.0.14:8080) serves the
``nginx`` router; the DigitalOcean stand-in's reserved IP forwards from 127.0.0.15:8080 for
the ``digitalocean`` router. Deploys go over SSH for real and state lives in Postgres, in a
fresh schema after every ``reset()``. sshd runs as the current user, so every host shares
this machine's filesystem: each colour's checkout is ``WORKDIR/hosts/COLOUR``.

As a pytest plugin (listed in tests/conftest.py) it provides the session fixture ``fleet``;
do not import the fixture into a test module, which would start a second fleet on the same
addresses. Benchmarks use ``Fleet``.
"""
from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import psycopg
import pytest
from psycopg import sql

from deploy_core import config as config_mod
from deploy_core.config import Config, Host
from deploy_core.errors import Deadline
from deploy_core.events import Callback
from deploy_core.pipeline import Pipeline
from deploy_core.poll import wait_until
from deploy_core.routers.nginx import parse_marker, upstream_text
from sandbox import repo
from sandbox.do_api import DOStandIn
from sandbox.hosts import AppHost, SandboxError, fetch
from sandbox.sandbox import DROPLETS, RESERVED_IP

from .nginx import FrontNginx, Nginx, start_front
from .postgres import create_database, drop_database, schema_url
from .sshd import E2E_HOSTS, SSHDError, SSHDFleet

WEB = {"blue": ("127.0.0.12", 8081), "green": ("127.0.0.13", 8081)}
RESERVED_LISTEN = ("127.0.0.15", 8080)
ROUTERS = ("nginx", "digitalocean")
IDENTITY = "{colour}-fleet"
TOKEN = "fleet-token"  # nosec B105 - the stand-in's token, not a secret
SMOKE = ({"name": "home page", "path": "/", "status": 200, "contains": "Welcome"},
         {"name": "identity", "path": "/hostname", "status": 200})


class SocketAppHost(AppHost):
    """The sample app under gunicorn on a unix socket; ``address`` is the nginx in front of it."""

    def __init__(self, colour: str, address: tuple[str, int], checkout: Path, run_dir: Path,
                 python: str) -> None:
        super().__init__(colour, IDENTITY.format(colour=colour), address, checkout, python,
                         run_dir=run_dir)
        self.socket = self.run_dir / f"{colour}.sock"

    def command(self) -> list[str]:
        argv = super().command()
        argv[argv.index("--bind") + 1] = f"unix:{self.socket}"
        return argv


def host_nginx_conf(socket: Path, listen: tuple[str, int]) -> str:
    """A colour host's nginx: ``listen`` proxies to gunicorn's unix socket."""
    return (f'    upstream app {{\n        server "unix:{socket}";\n    }}\n'
            f"    server {{\n        listen {listen[0]}:{listen[1]};\n"
            "        location / {\n"
            "            proxy_pass http://app;\n"
            "            proxy_set_header Host $host;\n"
            "            proxy_connect_timeout 2s;\n"
            "            proxy_read_timeout 10s;\n"
            "        }\n    }")


# -- bluegreen.toml -------------------------------------------------------------------------
def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # JSON's string escapes are valid TOML


def _literal(text: str) -> str:
    """``text`` inside a deploy step, where braces stand for placeholders."""
    return text.replace("{", "{{").replace("}", "}}")


def config_text(*, public_url: str, ssh: SSHDFleet, deploy_path: str, steps: Sequence[str],
                colours: Mapping[str, Sequence[tuple[str, str]]], router: Mapping[str, Any],
                deploy: Mapping[str, Any] | None = None,
                smoke: Sequence[Mapping[str, Any]] = SMOKE) -> str:
    """bluegreen.toml over SSH to ``colours`` ({colour: [(address, url), ...]})."""
    deploy_values = {"step_timeout_s": 60, "health_timeout_s": 20, "health_interval_s": 0.2,
                     **(deploy or {})}
    lines = ["# Written by tests/support/fleet.py", "[app]", 'name = "shop"',
             f"public_url = {_toml(public_url)}", 'identity_path = "/hostname"',
             'health_path = "/healthz"', 'release_path = "/version"', "", "[ssh]", f"user = {_toml(ssh.user)}", "port = 2222",
             f"key_file = {_toml(ssh.key_file)}", f"known_hosts = {_toml(ssh.known_hosts)}",
             "connect_timeout_s = 5", "", "[deploy]", 'transport = "ssh"',
             f"path = {_toml(deploy_path)}", 'fetch = "git fetch --prune --tags origin"',
             "steps = [", *(f"  {_toml(s)}," for s in steps), "]",
             *(f"{k} = {_toml(v)}" for k, v in deploy_values.items()), "",
             "[promote]", "verify_count = 3", "verify_interval_s = 0.1", "verify_timeout_s = 10"]
    for check in smoke:
        lines += ["", "[[smoke]]", *(f"{k} = {_toml(v)}" for k, v in check.items())]
    for colour, hosts in colours.items():
        listed = ", ".join(f"{{ address = {_toml(a)}, url = {_toml(u)} }}" for a, u in hosts)
        lines += ["", f"[colours.{colour}]", f"identity = {_toml(IDENTITY.format(colour=colour))}",
                  f"hosts = [{listed}]", f"droplet_id = {DROPLETS[colour]}"]
    lines += ["", "[router]", *(f"{k} = {_toml(v)}" for k, v in router.items()), ""]
    return "\n".join(lines)


def replace_sections(config: Config, **sections: Mapping[str, Any]) -> Config:
    """``config`` with some fields of some sections changed: ``deploy={"health_timeout_s": 1}``."""
    for name, changes in sections.items():
        section = dataclasses.replace(getattr(config, name), **changes)
        config = dataclasses.replace(config, **{name: section})
    return config


# -- the fleet --------------------------------------------------------------------------------
class Fleet:
    """Start with ``start()``; ``reset()`` between tests; ``stop()`` is idempotent.

    ``sshd``, ``front`` and ``database_url`` may be given (pytest's session fixtures);
    whatever the fleet starts itself, it stops."""

    def __init__(self, workdir: Path, *, sshd: SSHDFleet | None = None,
                 front: FrontNginx | None = None, database_url: str | None = None,
                 python: str = sys.executable, action_delay_s: float = 0.3) -> None:
        self.workdir = Path(workdir).resolve()
        self.sshd = sshd
        self.front = front
        self.base_url = database_url
        self.python = python
        self.action_delay_s = action_delay_s
        self.run_dir = self.workdir / "run"
        self.apps: dict[str, SocketAppHost] = {}
        self.nginx: dict[str, Nginx] = {}
        self.do: DOStandIn | None = None
        self.origin: Path | None = None
        self.releases: list[str] = []
        self.database_url = ""
        self._schemas: list[str] = []
        self._pipelines: list[Pipeline] = []
        self._undo: list[Callable[[], None]] = []

    # -- start and stop ---------------------------------------------------------------------
    def start(self) -> Fleet:
        try:
            self.origin = repo.make_origin(self.workdir / "repo")
            self.releases = repo.commits(self.origin)
            if self.sshd is None:
                self.sshd = SSHDFleet.start(self.workdir / "sshd", E2E_HOSTS)
                self._undo.append(self.sshd.stop)
            for name, address in E2E_HOSTS.items():
                if (self.sshd[name].address, self.sshd[name].port) != address:
                    raise SSHDError(f"sshd {name} is not on {address[0]}:{address[1]}")
            self._start_hosts()
            if self.front is None:
                self.front = start_front(self.workdir / "front")
                self._undo.append(self.front.nginx.stop)
            self._start_do()
            if self.base_url is None:
                name, self.base_url = create_database("bluegreen_fleet")
                self._undo.append(lambda: drop_database(name))
            for router in ROUTERS:
                self.config_path(router).write_text(self._config_text(router), encoding="utf-8")
            self.reset()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_hosts(self) -> None:
        assert self.origin is not None
        for colour, listen in WEB.items():
            app = SocketAppHost(colour, listen, self.workdir / "hosts" / colour, self.run_dir,
                                self.python)
            app.clone(self.origin, self.releases[0])
            app.start(wait=False)          # before its nginx: start() checks `listen` is free
            self.apps[colour] = app
            self._undo.append(app.stop)
            web = Nginx(self.workdir / f"nginx-{colour}")
            web.write_conf(host_nginx_conf(app.socket, listen))
            self.nginx[colour] = web.start([listen])
            self._undo.append(web.stop)
        for app in self.apps.values():
            app.wait_healthy()
        self.hosts_json.write_text(json.dumps({c: a.url for c, a in self.apps.items()}))

    def _start_do(self) -> None:
        self.do = DOStandIn(TOKEN, host="127.0.0.1", port=0, action_delay_s=self.action_delay_s)
        self._undo.append(self.do.stop)
        for colour, listen in WEB.items():
            self.do.add_droplet(DROPLETS[colour], f"shop-{colour}", listen)
        self.do.add_reserved_ip(RESERVED_IP, RESERVED_LISTEN, DROPLETS["blue"])
        self.do.start()

    def stop(self) -> None:
        self._close_pipelines()
        undo, self._undo = self._undo, []
        errors = []
        for step in reversed(undo):
            try:
                step()
            except BaseException as exc:  # noqa: B036 - stop the rest; pytest.fail raises BaseException
                errors.append(f"{getattr(step, '__qualname__', step)}: {exc}")
        if errors:
            raise SandboxError("could not stop everything: " + "; ".join(errors))

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests and benchmarks use ----------------------------------------------------------
    @property
    def hosts_json(self) -> Path:
        return self.run_dir / "hosts.json"

    def public_url(self, router: str) -> str:
        assert self.front is not None
        return self.front.url if router == "nginx" else \
            f"http://{RESERVED_LISTEN[0]}:{RESERVED_LISTEN[1]}"

    def config_path(self, router: str) -> Path:
        return self.workdir / f"bluegreen-{router}.toml"

    def env(self, router: str) -> dict[str, str]:
        assert self.do is not None
        return {"DATABASE_URL": self.database_url, "DIGITALOCEAN_TOKEN": TOKEN,
                "DIGITALOCEAN_API_URL": self.do.url, "BLUEGREEN_CONFIG": str(self.config_path(router))}

    def config(self, router: str, **sections: Mapping[str, Any]) -> Config:
        env = self.env(router)
        return replace_sections(config_mod.load(self.config_path(router), env), **sections)

    def pipeline(self, router: str, listener: Callback | None = None,
                 **sections: Mapping[str, Any]) -> Pipeline:
        """A pipeline on the current schema; closed by the next ``reset()`` or ``stop()``."""
        p = Pipeline.from_config(self.config(router, **sections), self.env(router), listener)
        self._pipelines.append(p)
        return p

    def add_commit(self, message: str, files: dict[str, str | bytes | None]) -> str:
        assert self.origin is not None
        return repo.add_commit(self.origin, message, files)

    def get(self, url: str) -> tuple[int, str]:
        """GET on a new connection: (status, body stripped)."""
        status, body = fetch(url, timeout=5.0)
        return status, body.strip()

    def serving(self, router: str) -> tuple[str, str]:
        """(identity, home page's first line) answered by the public address now."""
        base = self.public_url(router)
        return self.get(base + "/hostname")[1], self.get(base + "/")[1].splitlines()[0]

    def router_colour(self, router: str) -> str | None:
        """The live colour read from the router itself, without bluegreen."""
        assert self.front is not None and self.do is not None
        if router == "nginx":
            return parse_marker(self.front.upstream_file.read_text())
        droplet = self.do.assigned[RESERVED_IP]
        return next((c for c, d in DROPLETS.items() if d == droplet), None)

    # -- back to the start -----------------------------------------------------------------------
    def reset(self) -> None:
        """origin back to its three releases, both colours on the first one, traffic on blue,
        a fresh database schema; pipelines made before are closed."""
        assert self.origin is not None and self.front is not None and self.do is not None
        self._close_pipelines()
        work = repo.author_clone(self.origin)
        repo.git(work, "reset", "--quiet", "--hard", self.releases[-1])
        repo.git(work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/main")
        for colour in self.apps:
            self._restore_host(colour)
        self.front.reset(upstream_text("blue", [Host(WEB["blue"][0], None, self.apps["blue"].url)]))
        self.do.reset(assigned={RESERVED_IP: DROPLETS["blue"]})
        self._new_schema()
        for router in ROUTERS:
            url = self.public_url(router) + "/hostname"
            self._wait(lambda u=url: self._answer(u) == IDENTITY.format(colour="blue"),
                       f"{url} to answer blue")

    def _restore_host(self, colour: str) -> None:
        app, first = self.apps[colour], self.releases[0]
        repo.git(app.checkout, "checkout", "--quiet", "--force", "--detach", first)
        repo.git(app.checkout, "clean", "--quiet", "-d", "--force")
        if not self._serves(colour, first):
            app.reload()
            self._wait(lambda: self._serves(colour, first), f"{colour} to serve {first[:7]}")

    def _serves(self, colour: str, sha: str) -> bool:
        return f"({sha[:7]})" in self._answer(self.apps[colour].url + "/") and \
            self._answer(self.apps[colour].url + "/healthz") == "ok"

    def _answer(self, url: str) -> str:
        try:
            status, body = self.get(url)
        except OSError:
            return ""
        return body if status == 200 else ""

    @staticmethod
    def _wait(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        try:
            wait_until(lambda: True if check() else None, timeout=timeout, interval=0.05,
                       max_interval=0.3, what=what)
        except Deadline as exc:
            raise SandboxError(str(exc)) from None

    def _new_schema(self) -> None:
        assert self.base_url is not None
        plain = self.base_url.replace("postgresql+psycopg://", "postgresql://")
        schema = f"fleet_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            conn.execute("SET lock_timeout = '2s'")
            for old in self._schemas:
                try:
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(old)))
                except psycopg.Error:
                    continue  # still in use: the session database goes at the end anyway
        self._schemas = [schema]
        self.database_url = schema_url(self.base_url, schema)

    def _close_pipelines(self) -> None:
        pipelines, self._pipelines = self._pipelines, []
        for p in pipelines:
            p.close()

    def _config_text(self, router: str) -> str:
        assert self.sshd is not None and self.front is not None
        run = shlex.quote(str(self.run_dir))
        steps = ["git checkout --force --detach {sha}",
                 f'kill -HUP "$(cat {_literal(run)}/{{colour}}.pid)"']
        if router == "nginx":
            routing: dict[str, Any] = {
                "kind": "nginx", "host": "127.0.0.14:2222", "upstream_file": self.front.upstream_file,
                "test": self.front.nginx.test_command, "reload": self.front.nginx.reload_command,
                "api_timeout_s": 10}
        else:
            routing = {"kind": "digitalocean", "reserved_ip": RESERVED_IP, "action_timeout_s": 10,
                       "action_interval_s": 0.1}
        return config_text(
            public_url=self.public_url(router), ssh=self.sshd,
            deploy_path=str(self.workdir / "hosts" / "{colour}"), steps=steps,
            colours={c: [(WEB[c][0], a.url)] for c, a in self.apps.items()}, router=routing)


@pytest.fixture(scope="session", name="fleet")
def fleet_fixture(tmp_path_factory: pytest.TempPathFactory, sshd_hosts: SSHDFleet,
          front_nginx: FrontNginx, pg_url: str) -> Iterator[Fleet]:
    """The fleet on the session's sshd, front nginx and Postgres; fails, never skips."""
    started = Fleet(tmp_path_factory.mktemp("fleet"), sshd=sshd_hosts, front=front_nginx,
                    database_url=pg_url)
    try:
        started.start()
    except (SandboxError, SSHDError, repo.GitError, OSError, subprocess.SubprocessError,
            psycopg.Error) as exc:
        pytest.fail(f"cannot start the end-to-end fleet: {exc}", pytrace=False)
    try:
        yield started
    finally:
        started.stop()
