"""The sandbox: the seed's production on one machine.

Two app hosts (blue, green) serve checkouts of a local origin; a DigitalOcean
API stand-in owns reserved IP 203.0.113.7, which is only a name: its traffic
arrives at ``public``, a local TCP forwarder to the assigned droplet's host.
"""
from __future__ import annotations

import atexit
import json
import shlex
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from deploy_core.poll import wait_until

from . import repo
from .hosts import AppHost, SandboxError, ensure_free, fetch

Address = tuple[str, int]
DROPLETS = {"blue": 111111, "green": 222222}
RESERVED_IP = "203.0.113.7"  # a documentation address: never connected to
IDENTITY = "{colour}-sandbox"
E2E_CHECK = Path(__file__).with_name("e2e_check.py")


class Sandbox:
    """Start with ``start()`` or ``with Sandbox(workdir) as sb:``; ``stop()`` is idempotent."""

    def __init__(self, workdir: Path, blue: Address = ("127.0.0.2", 8000),
                 green: Address = ("127.0.0.3", 8000), public: Address = ("127.0.0.1", 8080),
                 token: str = "sandbox-token", *, python: str = sys.executable,  # nosec B107 # a stand-in's token, not a secret
                 action_delay_s: float = 0.3) -> None:
        self.workdir = Path(workdir).resolve()
        self.addresses = {"blue": tuple(blue), "green": tuple(green)}
        self.public = tuple(public)
        self.token = token
        self.python = python
        self.action_delay_s = action_delay_s
        self.config_path = self.workdir / "bluegreen.toml"
        self.origin: Path | None = None
        self.hosts: dict[str, AppHost] = {}
        self.do: Any = None  # sandbox.do_api.DOStandIn once started

    @property
    def public_url(self) -> str:
        return f"http://{self.public[0]}:{self.public[1]}"

    @property
    def env(self) -> dict[str, str]:
        """What the pipeline needs in its environment, beside the config file."""
        if self.do is None:
            raise SandboxError("the sandbox is not started")
        return {"DIGITALOCEAN_TOKEN": self.token, "DIGITALOCEAN_API_URL": self.do.url,
                "DATABASE_URL": f"sqlite:///{self.workdir / 'bluegreen.db'}",
                "BLUEGREEN_CONFIG": str(self.config_path)}

    def start(self) -> Sandbox:
        """Origin, both hosts at the first commit, the DO stand-in, then bluegreen.toml."""
        if (self.workdir / "hosts").exists() or (self.workdir / "repo").exists():
            raise SandboxError(f"{self.workdir} already holds a sandbox: use an empty directory")
        for colour, address in self.addresses.items():
            ensure_free(address, f"{colour} host")
        ensure_free(self.public, "public (reserved IP forwarder)")
        atexit.register(self.stop)
        try:
            self._start_hosts()
            self._start_do()
            self.config_path.write_text(config_text(self), encoding="utf-8")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_hosts(self) -> None:
        self.origin = repo.make_origin(self.workdir / "repo")
        for colour, address in self.addresses.items():
            host = AppHost(colour, IDENTITY.format(colour=colour), address,
                           self.workdir / "hosts" / colour, self.python,
                           run_dir=self.workdir / "run")
            self.hosts[colour] = host
            host.clone(self.origin)
            host.start(wait=False)
        for host in self.hosts.values():
            host.wait_healthy()

    def _start_do(self) -> None:
        from .do_api import DOStandIn  # written alongside; imported late to keep hosts usable alone

        self.do = DOStandIn(self.token, host="127.0.0.1", port=0, action_delay_s=self.action_delay_s)
        for colour, host in self.hosts.items():
            self.do.add_droplet(DROPLETS[colour], f"shop-{colour}", host.address)
        self.do.add_reserved_ip(RESERVED_IP, self.public, DROPLETS["blue"])
        self.do.start()
        wait_until(lambda: True if self._public_identity() == self.hosts["blue"].identity else None,
                   timeout=10, interval=0.05, what=f"the reserved IP at {self.public_url} to reach blue")

    def _public_identity(self) -> str | None:
        try:
            return self.live_identity()
        except OSError:
            return None

    def add_commit(self, message: str, files: dict[str, str | bytes | None],
                   author: str = repo.ADA) -> str:
        """Push a new commit to the origin's main (a new release); return its sha."""
        if self.origin is None:
            raise SandboxError("the sandbox is not started")
        return repo.add_commit(self.origin, message, files, author=author)

    def live_identity(self) -> str:
        """What the public address answers on the identity route right now."""
        return fetch(self.public_url + "/hostname")[1].strip()

    def stop(self) -> None:
        """Stop the stand-in and both hosts, whatever state start() reached."""
        atexit.unregister(self.stop)
        do, self.do = self.do, None
        errors: list[str] = []
        if do is not None:
            try:
                do.stop()
            except Exception as exc:  # keep stopping the rest
                errors.append(f"DigitalOcean stand-in: {exc}")
        for colour, host in self.hosts.items():
            try:
                host.stop()
            except Exception as exc:
                errors.append(f"{colour} host: {exc}")
        if errors:
            raise SandboxError("could not stop everything: " + "; ".join(errors))

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _s(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML)."""
    return json.dumps(value)


def config_text(sandbox: Sandbox) -> str:
    """bluegreen.toml for a started sandbox: local transport, the DO stand-in as router."""
    # Steps run in each host's checkout (workdir/hosts/COLOUR); the pidfile lives in
    # workdir/run, reached by a relative path so the workdir needs no quoting.
    reload = 'kill -HUP "$(cat ../../run/{colour}.pid)"'
    e2e = " ".join(shlex.quote(str(x)) for x in (sandbox.python, E2E_CHECK)) \
        .replace("{", "{{").replace("}", "}}") + " {url}"
    deploy_path = str(sandbox.workdir / "hosts" / "{colour}")
    lines = [
        "# Written by the bluegreen sandbox: the seed's production on this machine.",
        "[app]",
        f"name = {_s('shop')}",
        f"public_url = {_s(sandbox.public_url)}",
        f"identity_path = {_s('/hostname')}",
        f"health_path = {_s('/healthz')}",
        f"release_path = {_s('/version')}",
        "",
        "[deploy]",
        f"transport = {_s('local')}",
        f"path = {_s(deploy_path)}",
        f"fetch = {_s('git fetch --prune --tags origin')}",
        "steps = [",
        f"  {_s('git checkout --force --detach {sha}')},",
        f"  {_s(reload)},",
        "]",
        "step_timeout_s = 60",
        "health_timeout_s = 20",
        "health_interval_s = 0.2",
        "",
        "[promote]",
        "verify_count = 3",
        "verify_interval_s = 0.1",
        "verify_timeout_s = 10",
        "",
        "[[smoke]]",
        f"name = {_s('home page')}",
        f"path = {_s('/')}",
        "status = 200",
        f"contains = {_s('Welcome')}",
        "",
        "[[smoke]]",
        f"name = {_s('identity')}",
        f"path = {_s('/hostname')}",
        "status = 200",
        "",
        "[[smoke]]                # the shop's own end-to-end test, run where bluegreen runs",
        f"name = {_s('e2e')}",
        f"run = {_s(e2e)}",
        "timeout_s = 60",
    ]
    for colour, host in sandbox.hosts.items():
        lines += [
            "",
            f"[colours.{colour}]",
            f"identity = {_s(host.identity)}",
            f"hosts = [{{ address = {_s(host.address[0])}, url = {_s(host.url)} }}]",
            f"droplet_id = {DROPLETS[colour]}",
        ]
    lines += [
        "",
        "[router]",
        f"kind = {_s('digitalocean')}",
        f"reserved_ip = {_s(RESERVED_IP)}",
        "action_timeout_s = 10",
        "action_interval_s = 0.1",
        "",
        "[slack]",
        f"channel = {_s('C0DEPLOYS')}",
        f"deployers = [{_s('U0ALICE')}]",
        "",
    ]
    return "\n".join(lines)
