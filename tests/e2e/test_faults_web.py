"""Faults of the web side of a deploy and a switch, at pipeline level on the sandbox:
hosts that answer 500 or never answer, a flaky or hung DigitalOcean API, a public URL
that keeps answering the old colour, and nginx refusing the new upstream file.

Already covered elsewhere (not repeated here): a host that never becomes healthy and a
smoke test that gets the wrong body (tests/e2e/test_cycle.py), DigitalOcean 401, 404,
stuck and errored actions at router level (tests/unit/test_do_router.py).
"""
from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from deploy_core.config import (AppConfig, ColourConfig, Config, DeployConfig, Host, PromoteConfig,
                                RouterConfig, SlackConfig, SSHConfig)
from deploy_core.errors import HealthError, NotPromotable, ReleaseError, RouterError, VerifyError
from deploy_core.events import Notice, StepFinished
from deploy_core.pipeline import Pipeline
from deploy_core.routers.nginx import NginxRouter, upstream_text
from deploy_core.store import Store
from deploy_core.transports.local import LocalTransport
from tests.support.tiny_http import TinyHTTP
from sandbox import DROPLETS, RESERVED_IP
from tests.support.fakes import Recorder
from tests.support.faults import PipelineWorld, assert_settled
from tests.support.nginx import Nginx, front_conf, start_front


ACTIONS = rf"^/v2/reserved_ips/{RESERVED_IP}/actions$"
ONE_ACTION = rf"^/v2/reserved_ips/{RESERVED_IP}/actions/\d+$"
THE_IP = rf"^/v2/reserved_ips/{RESERVED_IP}$"


@pytest.fixture
def answers_500() -> Iterator[str]:
    server = TinyHTTP(("127.0.0.53", 0), lambda path: (500, "Internal Server Error"))
    yield server.url
    server.stop()


@pytest.fixture
def never_answers() -> Iterator[str]:
    """A port that completes the TCP handshake (the kernel's backlog) and never answers."""
    with socket.create_server(("127.0.0.53", 0), backlog=64) as silent:
        yield f"http://127.0.0.53:{silent.getsockname()[1]}"


def deploy_fails_health(world: PipelineWorld, url: str, **app) -> tuple[HealthError, float]:
    """Deploy to a green that is ``url``; by default without release proof, so that the
    health wait itself is what fails (release proof has tests/e2e/test_release_proof.py)."""
    app = {"release_path": None, **app}
    p = world.pipeline(green_url=url, deploy={"health_timeout_s": 1.0, "health_interval_s": 0.1},
                       app=app)
    started = time.monotonic()
    with pytest.raises(HealthError) as failed:
        p.deploy("main", "alice")
    return failed.value, time.monotonic() - started


# -- health -------------------------------------------------------------------------------------
def test_a_host_answering_500_fails_the_deploy_and_leaves_blue_live(world, answers_500):
    error, _ = deploy_fails_health(world, answers_500)
    assert "never answered 2xx within 1s (last: HTTP 500)" in str(error)
    p = world.p
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.promotable) == ("failed", False) and "HTTP 500" in dep.error
    assert p.status().colours["green"].sha is None
    with pytest.raises(NotPromotable):
        p.promote("alice")
    assert_settled(p, "blue")


@pytest.mark.parametrize("release_path, step", [(None, "health"), ("/version", "release")])
def test_a_host_that_never_answers_is_bounded_by_health_timeout(world, never_answers,
                                                                release_path, step):
    # request_timeout_s is the default 5 s: the wait must still end near health_timeout_s (1 s)
    error, elapsed = deploy_fails_health(world, never_answers, request_timeout_s=5.0,
                                         release_path=release_path)
    waits = [e for e in world.events.of(StepFinished) if e.name in ("release", "health")]
    assert [(e.name, e.ok) for e in waits] == [(step, False)]
    assert waits[0].elapsed < 2.5, f"{step} took {waits[0].elapsed:.1f}s for a 1s timeout"
    assert "no answer within" in str(error)
    assert isinstance(error, ReleaseError) == (step == "release")
    assert world.p.store.latest_deployment("green").status == "failed"
    assert_settled(world.p, "blue")


def test_promote_refuses_a_host_that_hangs_on_its_fresh_health_check(world, never_answers):
    world.p.deploy("main", "alice")
    p = world.pipeline(green_url=never_answers, app={"request_timeout_s": 0.5})
    started = time.monotonic()
    with pytest.raises(HealthError, match="nothing was switched"):
        p.promote("alice")
    assert time.monotonic() - started < 3
    assert p.history(1)[0].kind == "deploy"        # no switch was even recorded
    assert_settled(p, "blue")


# -- DigitalOcean -------------------------------------------------------------------------------
def test_promote_waits_out_429_with_retry_after_and_succeeds(world):
    world.p.deploy("main", "alice")
    do = world.sb.do
    do.fail_next("POST", ACTIONS, 429, retry_after=0.4)
    do.fail_next("GET", ONE_ACTION, 429, retry_after=0.3)
    started = time.monotonic()
    result = world.p.promote("alice")
    assert result.verified and result.to_colour == "green"
    assert time.monotonic() - started >= 0.7       # both Retry-After waits were honoured
    posts = [status for method, path, status in do.requests if method == "POST"]
    assert posts == [429, 201]                      # the 429 was sent again, once
    assert any(status == 429 and method == "GET" for method, _, status in do.requests)
    said = [n.text for n in world.events.of(Notice)]    # the router's words reach the people
    assert any(t.startswith("the assign was rate limited (429 ") and "retrying in" in t for t in said), said
    assert_settled(world.p, "green")


def test_promote_rides_over_500s_then_succeeds(world):
    world.p.deploy("main", "alice")
    do = world.sb.do
    do.fail_next("GET", THE_IP, 500, count=2)       # the live-colour read, twice
    do.fail_next("POST", ACTIONS, 500)              # an assign that did not take effect
    result = world.p.promote("alice")
    assert result.verified and world.live() == "green-sandbox"
    posts = [status for method, path, status in do.requests if method == "POST"]
    assert posts == [500, 201]                      # re-sent only after reading it had not moved
    assert_settled(world.p, "green")


def test_hung_api_is_bounded_during_status_and_promote(world):
    p = world.pipeline(router={"api_timeout_s": 0.3})
    world.sb.do.hang_next("GET", THE_IP, seconds=30, count=100)
    for operation in (p.status, lambda: p.promote("alice")):
        started = time.monotonic()
        with pytest.raises(RouterError, match="4 time"):
            operation()
        assert time.monotonic() - started < 5       # 4 reads of 0.3 s and short backoffs
    assert p.history() == []                        # nothing was recorded as started
    world.reset()                                   # the API answers again
    assert p.status().live == "blue"                # and the same pipeline goes on
    assert_settled(p, "blue")


def test_an_assign_that_hangs_after_taking_effect_is_not_sent_again(world):
    world.p.deploy("main", "alice")
    p = world.pipeline(router={"api_timeout_s": 0.5})
    world.sb.do.hang_next("POST", ACTIONS, seconds=30, take_effect=True)
    assert p.promote("alice").verified
    assert [s for m, _, s in world.sb.do.requests if m == "POST"] == [0]   # one POST, no answer
    assert_settled(p, "green")


# -- verification -------------------------------------------------------------------------------
def test_public_url_still_answering_the_old_colour_puts_traffic_back(world):
    """The reserved IP moves to green's droplet, but the traffic it carries still reaches
    blue (a stale forward, a cache): the switch must not count."""
    world.p.deploy("main", "alice")
    world.sb.do.targets[DROPLETS["green"]] = world.sb.hosts["blue"].address
    p = world.pipeline(promote={"verify_timeout_s": 1.0})
    with pytest.raises(VerifyError) as failed:
        p.promote("alice")
    message = str(failed.value)
    assert "did not answer 'green-sandbox' 3 times in a row" in message
    assert "last: 'blue-sandbox'" in message and "put back to blue (verified)" in message
    switch = p.store.switch(p.history(1)[0].id)
    assert (switch.status, switch.verified) == ("failed", False)
    assert p.store.last_switch() is None            # rollback has nothing to go back to
    assert_settled(p, "blue")


# -- nginx router -------------------------------------------------------------------------------
NGINX_HOST = "127.0.0.59"
BACKENDS = {"blue": 8091, "green": 8092}


def _identity(name: str):
    """Answer /hostname with ``name`` and everything else (health, smoke) with ok."""
    return lambda path: (200, name if path == "/hostname" else "ok")


@pytest.fixture(scope="module")
def nginx_front(tmp_path_factory):
    servers = [TinyHTTP((NGINX_HOST, port), _identity(f"{colour}-production"))
               for colour, port in BACKENDS.items()]
    front = start_front(tmp_path_factory.mktemp("nginx-front"), listen=(NGINX_HOST, 8080))
    try:
        yield front
    finally:
        front.nginx.stop()
        for server in servers:
            server.stop()


def test_nginx_refusing_the_new_upstream_keeps_old_file_and_traffic(nginx_front, tmp_path):
    hosts = {c: Host(NGINX_HOST, None, f"http://{NGINX_HOST}:{port}") for c, port in BACKENDS.items()}
    nginx_front.reset(upstream_text("blue", [hosts["blue"]]))
    strict = Nginx(tmp_path / "strict")      # the front's config plus a duplicate upstream
    strict.write_conf(front_conf(nginx_front.upstream_file, nginx_front.listen)
                      + "\n    upstream bluegreen_live { server 127.0.0.1:9; }")
    cfg = Config(
        app=AppConfig(name="shop", public_url=nginx_front.url), ssh=SSHConfig(),
        deploy=DeployConfig(transport="local", path=str(tmp_path)), promote=PromoteConfig(verify_timeout_s=2), smoke=(),
        colours={c: ColourConfig(c, f"{c}-production", (h,)) for c, h in hosts.items()},
        router=RouterConfig(kind="nginx", host=f"{NGINX_HOST}:2222", api_timeout_s=10,
                            upstream_file=str(nginx_front.upstream_file),
                            test=strict.test_command, reload=nginx_front.nginx.reload_command),
        slack=SlackConfig())
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    dep = store.create_deployment("green", "main", "alice", None)       # what a good deploy leaves
    store.set_deployment_sha(dep, "a" * 40)
    store.set_colour("green", "a" * 40, dep)
    store.finish_deployment(dep, "succeeded", smoke_ok=True, promotable=True)
    transport = LocalTransport()
    p = Pipeline(cfg, store=store, transport=transport, router=NginxRouter(cfg, transport),
                 listener=Recorder())
    before = nginx_front.upstream_file.read_bytes()
    try:
        with pytest.raises(RouterError) as failed:
            p.promote("alice")
        assert 'duplicate upstream "bluegreen_live"' in str(failed.value)
        assert "previous file is back and traffic is unchanged" in str(failed.value)
        assert "Traffic now: blue" in str(failed.value)
        assert nginx_front.upstream_file.read_bytes() == before
        answers = {requests.get(nginx_front.url + "/hostname", timeout=3,
                                headers={"Connection": "close"}).text for _ in range(5)}

        assert answers == {"blue-production"}
        switch = store.switch(store.history(1)[0].id)
        assert (switch.kind, switch.status, switch.verified) == ("promote", "failed", False)
        assert_settled(p, "blue")
        assert not Path(f"{nginx_front.upstream_file}.bluegreen-new").exists()
    finally:
        store.close()
