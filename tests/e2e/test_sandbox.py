"""The sandbox really runs: two gunicorn hosts, the origin, the reserved IP forwarder.

Addresses differ from the demo defaults so this can run beside a demo."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from deploy_core import config as config_module
from deploy_core.refs import render, render_path
from sandbox import Sandbox, SandboxError
from sandbox.hosts import ensure_free, fetch
from sandbox.repo import commits, git

BLUE = ("127.0.0.22", 8000)
GREEN = ("127.0.0.23", 8000)
PUBLIC = ("127.0.0.21", 8080)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    sb = Sandbox(tmp_path_factory.mktemp("sandbox"), blue=BLUE, green=GREEN, public=PUBLIC)
    with sb:
        yield sb


def test_both_hosts_are_healthy_and_answer_their_identity(sandbox):
    for colour, host in sandbox.hosts.items():
        assert fetch(host.url + "/healthz") == (200, "ok")
        assert fetch(host.url + "/hostname") == (200, f"{colour}-sandbox")


def test_hosts_serve_the_first_release_of_an_origin_with_history(sandbox):
    shas = commits(sandbox.origin)
    assert len(shas) >= 3
    assert git(sandbox.origin, "rev-parse", "v1.0^{commit}") == shas[0]
    for host in sandbox.hosts.values():
        status, body = fetch(host.url + "/")
        assert status == 200
        assert body.startswith(f"Welcome to shop — version 1.0.0 ({shas[0][:7]}")


def test_reserved_ip_forwards_to_blue(sandbox):
    assert sandbox.live_identity() == "blue-sandbox"


def test_written_config_loads(sandbox):
    cfg = config_module.load(sandbox.config_path, env=sandbox.env)
    assert cfg.app.public_url == "http://127.0.0.21:8080"
    assert cfg.deploy.transport == "local"
    assert cfg.colours["green"].hosts[0].url == "http://127.0.0.23:8000"
    assert cfg.colours["blue"].droplet_id == 111111
    assert cfg.router.reserved_ip == "203.0.113.7"
    assert sandbox.env["DIGITALOCEAN_API_URL"].startswith("http://127.0.0.1:")


def _deploy(sandbox, colour: str, sha: str) -> None:
    """Run the configured steps the way the local transport does."""
    cfg = config_module.load(sandbox.config_path, env=sandbox.env)
    cwd = render_path(cfg.deploy.path, {"colour": colour})
    for step in cfg.deploy.steps:
        command = render(step, {"sha": sha, "ref": sha, "colour": colour, "host": "127.0.0.23"})
        subprocess.run(command, shell=True, cwd=cwd, check=True, timeout=30, capture_output=True)  # noqa: S602 - the config's own step text, as the pipeline runs it


def test_reload_serves_the_newest_release_without_a_failed_request(sandbox):
    green = sandbox.hosts["green"]
    newest = commits(sandbox.origin)[-1]
    answers: list[str] = []
    failures: list[str] = []
    serving = threading.Event()
    reloaded = threading.Event()

    def load() -> None:  # a new connection per request, bounded in count and time
        deadline = time.monotonic() + 5
        new_after_reload = 0
        for _ in range(200):
            if time.monotonic() > deadline or new_after_reload >= 20:
                return
            try:
                status, body = fetch(green.url + "/", timeout=5)
            except OSError as exc:
                failures.append(repr(exc))
                continue
            if status != 200:
                failures.append(f"HTTP {status}")
            answers.append(body)
            serving.set()
            if reloaded.is_set() and "1.2.0" in body:
                new_after_reload += 1

    loader = threading.Thread(target=load)
    loader.start()
    assert serving.wait(5), failures
    _deploy(sandbox, "green", newest)
    reloaded.set()
    loader.join()
    assert failures == []
    assert "version 1.0.0" in answers[0], answers[0]
    assert f"version 1.2.0 ({newest[:7]})" in answers[-1], (len(answers), answers[-1])
    assert fetch(green.url + "/hostname")[1] == "green-sandbox"


def test_a_broken_release_fails_health_on_its_host(sandbox):
    sha = sandbox.add_commit("Break health", {"UNHEALTHY": "on purpose\n"},
                             author="Grace Hopper <grace@example.com>")
    green = sandbox.hosts["green"]
    git(green.checkout, "fetch", "--quiet", "origin")
    _deploy(sandbox, "green", sha)
    assert fetch(green.url + "/healthz")[0] == 503
    assert git(sandbox.origin, "log", "-1", "--format=%an <%ae>", sha) == \
        "Grace Hopper <grace@example.com>"


def test_stop_leaves_no_process_and_frees_the_ports(sandbox):
    hosts = list(sandbox.hosts.values())
    assert all(host.processes() for host in hosts)
    sandbox.stop()
    sandbox.stop()  # idempotent
    assert [pid for host in hosts for pid in host.processes()] == []
    for address in (BLUE, GREEN, PUBLIC):
        ensure_free(address, "test")


def test_a_taken_public_address_is_named(tmp_path):
    taken = ("127.0.0.24", 8080)
    with socket.socket() as listener:
        listener.bind(taken)
        listener.listen()
        with pytest.raises(SandboxError, match=r"127\.0\.0\.24:8080 is already in use"):
            Sandbox(tmp_path, blue=("127.0.0.25", 8000), green=("127.0.0.26", 8000),
                    public=taken).start()
