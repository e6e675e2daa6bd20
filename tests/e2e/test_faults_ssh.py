"""SSH faults during a deploy, through the whole pipeline with ``transport = "ssh"``.

Real sshd on 127.0.0.54-56:2222 (one blue host, two green ones), each host's checkout
of a local origin in its own directory, small HTTP servers answering health and identity
for each host, and the DigitalOcean stand-in whose reserved IP forwards 127.0.0.58:8080
to the live colour. Drops go through a TCPProxy on 127.0.0.57.

Transport-level cases are in tests/e2e/test_ssh_transport.py; these check what the
pipeline makes of them: the deploy fails with a clear message and is recorded so, the
colour is not marked deployed, the live colour keeps serving and the lock is free.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from deploy_core import config as config_mod
from deploy_core.errors import CommandTimeout, NotPromotable, StepFailed, UnreachableError
from deploy_core.events import OutputLine
from deploy_core.pipeline import Pipeline
from sandbox import repo
from sandbox.do_api import DOStandIn
from tests.support.fakes import Recorder
from tests.support.faults import assert_settled
from tests.support.proxy import TCPProxy
from tests.support.sshd import SSHDFleet, wait_dead

TOKEN = "dop_v1_ssh-faults-token"
IP = "203.0.113.7"
HOSTS = {"blue": ("127.0.0.54", 2222), "green-a": ("127.0.0.55", 2222),
         "green-b": ("127.0.0.56", 2222)}
PROXY_ADDRESS = "127.0.0.57"
PUBLIC = ("127.0.0.58", 8080)
WEB_PORT = 8081
DROPLETS = {"blue": 111111, "green": 222222}


class _Identity(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        text = {"/hostname": self.server.identity, "/healthz": "ok"}.get(  # type: ignore[attr-defined]
            self.path, "Welcome to shop")
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _url(address: str) -> str:
    """The web server of the host at ``address`` (behind the proxy: green-a's)."""
    return f"http://{'127.0.0.55' if address == PROXY_ADDRESS else address}:{WEB_PORT}"


class SSHWorld:
    """The module's sshd fleet, origin, checkouts, web servers and DigitalOcean stand-in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fleet = SSHDFleet.start(root / "sshd", HOSTS)
        self.web: list[ThreadingHTTPServer] = []
        self.do: DOStandIn | None = None
        try:
            self.origin = repo.make_origin(root / "repo")
            for name, (address, _) in HOSTS.items():
                colour = name.split("-")[0]
                self._serve(address, f"{colour}-ssh")
            for colour, address in (("blue", "127.0.0.54"), ("green", "127.0.0.55"),
                                    ("green", "127.0.0.56"), ("green", PROXY_ADDRESS)):
                checkout = root / "hosts" / colour / address
                checkout.parent.mkdir(parents=True, exist_ok=True)
                repo.git(checkout.parent, "clone", "--quiet", str(self.origin), str(checkout))
            self.do = DOStandIn(TOKEN, action_delay_s=0.05)
            self.do.add_droplet(DROPLETS["blue"], "shop-blue", ("127.0.0.54", WEB_PORT))
            self.do.add_droplet(DROPLETS["green"], "shop-green", ("127.0.0.55", WEB_PORT))
            self.do.add_reserved_ip(IP, PUBLIC, DROPLETS["blue"])
            self.do.start()
        except BaseException:
            self.stop()
            raise

    def _serve(self, address: str, identity: str) -> None:
        server = ThreadingHTTPServer((address, WEB_PORT), _Identity)
        server.identity = identity  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.web.append(server)

    def config(self, state_dir: Path, *, green: list[str] | None = None,
               steps: list[str] | None = None, known_hosts: Path | None = None,
               **deploy: Any) -> config_mod.Config:
        """bluegreen.toml's content for this world, as the parsed TOML table."""
        green = green or ["127.0.0.55:2222"]
        data = {
            "app": {"name": "shop", "public_url": f"http://{PUBLIC[0]}:{PUBLIC[1]}",
                    "request_timeout_s": 2},
            "ssh": {"user": self.fleet.user, "port": 2222, "key_file": str(self.fleet.key_file),
                    "known_hosts": str(known_hosts or self.fleet.known_hosts),
                    "connect_timeout_s": 2},
            "deploy": {"transport": "ssh", "path": str(self.root / "hosts" / "{colour}" / "{host}"),
                       "steps": steps or ["git checkout --force --detach {sha}",
                                          "echo deployed {sha} on {host}"],
                       "step_timeout_s": 10, "health_timeout_s": 3, "health_interval_s": 0.1,
                       **deploy},
            "promote": {"verify_count": 2, "verify_interval_s": 0.05, "verify_timeout_s": 3},
            "smoke": [{"name": "home page", "path": "/", "contains": "Welcome"}],
            "colours": {
                "blue": {"identity": "blue-ssh", "droplet_id": DROPLETS["blue"],
                         "hosts": [{"address": "127.0.0.54:2222", "url": _url("127.0.0.54")}]},
                "green": {"identity": "green-ssh", "droplet_id": DROPLETS["green"],
                          "hosts": [{"address": a, "url": _url(a.split(":")[0])} for a in green]},
            },
            "router": {"kind": "digitalocean", "reserved_ip": IP, "action_timeout_s": 5,
                       "action_interval_s": 0.05, "api_timeout_s": 2},
        }
        return config_mod.parse(data, self.env(state_dir))

    def env(self, state_dir: Path) -> dict[str, str]:
        assert self.do is not None
        return {"DIGITALOCEAN_TOKEN": TOKEN, "DIGITALOCEAN_API_URL": self.do.url,
                "DATABASE_URL": f"sqlite:///{state_dir / 'state.db'}"}

    def head(self, colour: str, address: str) -> str:
        return repo.git(self.root / "hosts" / colour / address, "rev-parse", "HEAD")

    def stop(self) -> None:
        if self.do is not None:
            self.do.stop()
        for server in self.web:
            server.shutdown()
            server.server_close()
        self.fleet.stop()


@pytest.fixture(scope="module")
def ssh_world(tmp_path_factory) -> Iterator[SSHWorld]:
    world = SSHWorld(tmp_path_factory.mktemp("ssh-faults"))
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture
def build(ssh_world, tmp_path):
    """``build(**config) -> (pipeline, events)`` on a fresh state database; the reserved IP
    is back on blue. Every pipeline is closed after the test."""
    ssh_world.do.assign_now(IP, DROPLETS["blue"])
    made: list[Pipeline] = []

    def make(**options: Any) -> tuple[Pipeline, Recorder]:
        events = Recorder()
        cfg = ssh_world.config(tmp_path, **options)
        p = Pipeline.from_config(cfg, ssh_world.env(tmp_path), listener=events)
        made.append(p)
        return p, events

    yield make
    for p in made:
        p.close()


def assert_not_deployed(p: Pipeline) -> None:
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.promotable) == ("failed", False)
    status = p.status()
    assert status.colours["green"].sha is None and not status.colours["green"].promotable
    with pytest.raises(NotPromotable):
        p.promote("alice")
    assert_settled(p, "blue")


def test_the_happy_path_over_ssh_works(build, ssh_world):
    """The baseline the faults below depart from."""
    p, _ = build(green=["127.0.0.55:2222", "127.0.0.56:2222"])
    result = p.deploy("main", "alice")
    assert ssh_world.head("green", "127.0.0.55") == ssh_world.head("green", "127.0.0.56") == result.sha
    assert p.status().colours["green"].promotable


def test_an_unreachable_host_fails_the_deploy_with_a_clear_message(build, ssh_world):
    p, _ = build(green=["127.0.0.55:2299"])          # nothing listens there
    started = time.monotonic()
    with pytest.raises(UnreachableError) as failed:
        p.deploy("main", "alice")
    assert time.monotonic() - started < 3
    message = str(failed.value)
    assert f"cannot reach {ssh_world.fleet.user}@127.0.0.55:2299: connection refused" in message
    dep = p.store.latest_deployment("green")
    assert "connection refused" in dep.error
    _, steps = p.log(dep.id)
    assert steps[0].name == "fetch" and "[bluegreen] cannot reach" in steps[0].output
    assert_not_deployed(p)


def test_a_connection_dropped_mid_step_is_recorded_failed(build, ssh_world, tmp_path):
    with TCPProxy(listen=(PROXY_ADDRESS, 0), target=HOSTS["green-a"]) as proxy:
        known = tmp_path / "known_hosts"
        known.write_text(ssh_world.fleet.known_hosts.read_text() +
                         ssh_world.fleet["green-a"].known_hosts_line(*proxy.address) + "\n")
        host = f"{PROXY_ADDRESS}:{proxy.address[1]}"
        steps = ["git checkout --force --detach {sha}", "echo started; sleep 20"]
        p, events = build(green=[host], steps=steps, known_hosts=known, step_timeout_s=5)

        def cut_when_started(event) -> None:
            events(event)
            if isinstance(event, OutputLine) and event.line == "started":
                proxy.cut()
        p.listener = cut_when_started
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="dropped while running `echo started; sleep 20`"):
            p.deploy("main", "alice")
        assert time.monotonic() - started < 5            # not the step's 20 s, nor its timeout
        dep = p.store.latest_deployment("green")
        _, steps_run = p.log(dep.id)
        assert steps_run[-1].exit_status is None and "connection dropped" in steps_run[-1].output
        assert_not_deployed(p)

        proxy.restore()                                  # the link is back: the next deploy works
        again, _ = build(green=[host], known_hosts=known)
        assert again.deploy("main", "alice").colour == "green"
        assert again.store.current_lock() is None


def test_a_step_past_its_timeout_is_stopped_on_the_host(build, tmp_path):
    pidfile = tmp_path / "remote.pid"
    p, _ = build(steps=["git checkout --force --detach {sha}", f"sleep 30 & echo $! > {pidfile}; wait"],
                 step_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as failed:
        p.deploy("main", "alice")
    assert time.monotonic() - started < 7
    assert not isinstance(failed.value, TimeoutError)
    assert "ran past its 2s timeout and was stopped" in str(failed.value)
    assert wait_dead(int(pidfile.read_text()), within=3)      # gone on the host too
    assert_not_deployed(p)


def test_one_host_failing_while_the_other_succeeds_leaves_the_colour_undeployed(build, ssh_world):
    fails_on_b = "test {host} != 127.0.0.56 || {{ echo 'disk full' >&2; exit 7; }}"
    p, _ = build(green=["127.0.0.55:2222", "127.0.0.56:2222"],
                 steps=["git checkout --force --detach {sha}", fails_on_b])
    with pytest.raises(StepFailed) as failed:
        p.deploy("main", "alice")
    assert failed.value.host == "127.0.0.56:2222" and failed.value.exit_status == 7
    assert "[stderr] disk full" in failed.value.tail
    dep = p.store.latest_deployment("green")
    _, steps = p.log(dep.id)
    done_on_a = [s.name for s in steps if s.host == "127.0.0.55:2222" and s.exit_status == 0]
    assert len([n for n in done_on_a if n.startswith("step ")]) == 2      # a finished both steps
    assert ssh_world.head("green", "127.0.0.55") == dep.sha
    assert_not_deployed(p)


def test_the_failing_host_is_reported_not_the_host_it_stopped(build, tmp_path):
    """b fails its first step while a is still in its own: a stops before its second step.
    The deploy must report b's failure (and be recorded failed), not a's "stopped"."""
    flag = tmp_path / "b-failed"
    first = (f"test {{host}} != 127.0.0.56 || {{{{ touch {flag}; exit 7; }}}}; "
             f"while [ ! -e {flag} ]; do sleep 0.02; done; sleep 0.5")
    p, _ = build(green=["127.0.0.55:2222", "127.0.0.56:2222"], steps=[first, "echo second"])
    with pytest.raises(StepFailed) as failed:
        p.deploy("main", "alice")
    assert failed.value.host == "127.0.0.56:2222" and failed.value.exit_status == 7
    dep = p.store.latest_deployment("green")
    assert dep.status == "failed" and "127.0.0.56:2222" in dep.error
    _, steps = p.log(dep.id)
    assert not [s for s in steps if s.name.startswith("step 2")]      # a never ran step 2
    assert_not_deployed(p)

