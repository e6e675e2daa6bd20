"""The DigitalOcean router against the real DOStandIn over HTTP: pydo and azure-core stay real."""
from __future__ import annotations

import socket
import time
from typing import Iterator

import pytest
import requests

from deploy_core.config import (AppConfig, ColourConfig, Config, DeployConfig, PromoteConfig,
                                RouterConfig, SlackConfig, SSHConfig)
from deploy_core.errors import ActionTimeout, RouterAuthError, RouterError
from deploy_core.routers.digitalocean import DigitalOceanRouter
from tests.support.tiny_http import TinyHTTP, saying
from sandbox.do_api import DOStandIn
from sandbox.forwarder import Forwarder

TOKEN = "dop_v1_s3cret-token-for-tests"
IP = "203.0.113.7"
BLUE, GREEN, OTHER = 111111, 222222, 333333


@pytest.fixture
def backends() -> Iterator[dict[str, tuple[str, int]]]:
    servers = {c: TinyHTTP(("127.0.0.1", 0), saying(c)) for c in ("blue", "green", "other")}
    yield {c: s.address for c, s in servers.items()}
    for server in servers.values():
        server.stop()


@pytest.fixture
def api(backends) -> Iterator[DOStandIn]:
    standin = DOStandIn(TOKEN, action_delay_s=0.2)
    standin.add_droplet(BLUE, "blue-1", backends["blue"])
    standin.add_droplet(GREEN, "green-1", backends["green"])
    standin.add_droplet(OTHER, "someone-elses", backends["other"])
    standin.add_reserved_ip(IP, ("127.0.0.1", 0), BLUE)
    standin.start()
    yield standin
    standin.stop()


def config(ip: str = IP, **router: float) -> Config:
    options = {"action_timeout_s": 3.0, "action_interval_s": 0.05, "api_timeout_s": 2.0, **router}
    return Config(
        app=AppConfig(name="shop", public_url="http://127.0.0.1:8080"), ssh=SSHConfig(),
        deploy=DeployConfig(transport="local"), promote=PromoteConfig(), smoke=(),
        colours={"blue": ColourConfig("blue", "blue-production", (), BLUE),
                 "green": ColourConfig("green", "green-production", (), GREEN)},
        router=RouterConfig(kind="digitalocean", reserved_ip=ip, **options), slack=SlackConfig())


def router(api: DOStandIn, events: list[str] | None = None, token: str = TOKEN,
           **options: float) -> DigitalOceanRouter:
    env = {"DIGITALOCEAN_TOKEN": token, "DIGITALOCEAN_API_URL": api.url}
    ip = str(options.pop("ip", IP))
    return DigitalOceanRouter(config(ip, **options), env,
                              on_event=events.append if events is not None else None)


def through_reserved_ip(api: DOStandIn) -> str:
    host, port = api.forwarders[0].address
    return requests.get(f"http://{host}:{port}/hostname", timeout=2,
                        headers={"Connection": "close"}).text


def posts(api: DOStandIn) -> list[int]:
    return [status for method, path, status in api.requests
            if method == "POST" and path == f"/v2/reserved_ips/{IP}/actions"]


def test_read_says_which_colour_holds_the_reserved_ip(api):
    state = router(api).read()
    assert (state.live, state.status) == ("blue", "ok")
    assert "droplet 111111" in state.detail


def test_read_unassigned_and_foreign(api):
    r = router(api)
    api.assign_now(IP, None)
    assert (r.read().live, r.read().status) == (None, "unassigned")
    with pytest.raises(requests.ConnectionError):
        through_reserved_ip(api)                  # no droplet: the forwarder closes the connection
    api.assign_now(IP, OTHER)
    assert through_reserved_ip(api) == "other"
    state = r.read()
    assert (state.live, state.status) == (None, "foreign")
    assert "333333" in state.detail and "someone-elses" in state.detail


def test_switch_completes_and_new_connections_reach_the_new_colour(api):
    events: list[str] = []
    assert through_reserved_ip(api) == "blue"
    host, port = api.forwarders[0].address
    kept = socket.create_connection((host, port), timeout=2)   # opened while blue is live
    router(api, events).switch("green")
    assert router(api).read().live == "green"
    assert through_reserved_ip(api) == "green"
    kept.sendall(b"GET / HTTP/1.0\r\n\r\n")
    with kept, kept.makefile("rb") as answer:
        assert answer.read().endswith(b"\r\n\r\nblue")     # an open connection keeps its backend
    assert posts(api) == [201]
    assert any("assign action" in e and "started" in e for e in events)


def test_switch_to_the_colour_already_live_sends_nothing(api):
    router(api).switch("blue")
    assert posts(api) == []


def test_wrong_token_is_said_plainly_without_the_token(api):
    with pytest.raises(RouterAuthError) as caught:
        router(api, token="dop_v1_wrong-and-secret").read()
    assert str(caught.value) == "DigitalOcean refused the token (401): check DIGITALOCEAN_TOKEN"
    assert "wrong-and-secret" not in repr(caught.value) + repr(caught.value.data)
    with pytest.raises(RouterAuthError):
        router(api, token="dop_v1_wrong-and-secret").switch("green")
    assert posts(api) == []    # the read before the POST already stopped it
    assert api.target_of(IP) == api.targets[BLUE]


def test_unknown_reserved_ip_is_a_clear_error(api):
    with pytest.raises(RouterError, match="reserved IP 198.51.100.1 does not exist in this"):
        router(api, ip="198.51.100.1").read()


def test_429_on_a_read_waits_at_least_retry_after(api):
    api.fail_next("GET", r"^/v2/reserved_ips/", 429, retry_after=1)
    events: list[str] = []
    started = time.monotonic()
    assert router(api, events).read().live == "blue"
    assert time.monotonic() - started >= 1.0
    assert [s for m, _, s in api.requests if m == "GET"] == [429, 200]
    assert any("429" in e for e in events)


def test_a_retry_after_beyond_the_budget_fails_at_once(api):
    api.fail_next("GET", r"^/v2/reserved_ips/", 429, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(RouterError, match="429"):
        router(api).read()
    assert time.monotonic() - started < 1


def test_500s_then_success_on_reads(api):
    api.fail_next("GET", r"^/v2/reserved_ips/", 500, count=2)
    assert router(api).read().live == "blue"
    assert [s for m, _, s in api.requests if m == "GET"] == [500, 500, 200]


def test_reads_give_up_after_a_bounded_number_of_500s(api):
    api.fail_next("GET", r"^/v2/reserved_ips/", 503, count=50)
    with pytest.raises(RouterError, match="4 time"):
        router(api).read()
    assert len(api.requests) == 4


def test_assign_answered_500_after_taking_effect_is_not_resent(api):
    api.fail_next("POST", r"/actions$", 500, take_effect=True)
    events: list[str] = []
    router(api, events).switch("green")
    assert posts(api) == [500]
    assert router(api).read().live == "green"
    assert any("before deciding whether to send it again" in e for e in events)


def test_assign_answered_500_without_effect_is_resent_after_reading(api):
    api.fail_next("POST", r"/actions$", 500)
    router(api).switch("green")
    assert posts(api) == [500, 201]
    methods = [m for m, _, _ in api.requests]
    assert methods.index("POST") < methods.index("GET", methods.index("POST"))  # read between
    assert router(api).read().live == "green"


def test_assign_that_times_out_after_taking_effect_is_not_resent(api):
    api.hang_next("POST", r"/actions$", 2.0, take_effect=True)
    router(api, api_timeout_s=0.3).switch("green")
    assert posts(api) == [0]
    assert router(api).read().live == "green"


def test_pending_event_422_waits_for_the_pending_action(api):
    # someone else's unassign is in progress when bluegreen asks for green
    answer = requests.post(f"{api.url}/v2/reserved_ips/{IP}/actions", json={"type": "unassign"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
    assert answer.status_code == 201
    router(api).switch("green")
    assert posts(api) == [201, 422, 201]
    assert router(api).read().live == "green"


def test_stuck_action_is_an_action_timeout_within_action_timeout_s(api):
    api.action_stuck = True
    started = time.monotonic()
    with pytest.raises(ActionTimeout) as caught:
        router(api, action_timeout_s=0.6).switch("green")
    assert time.monotonic() - started < 1.5
    action_id = next(iter(api.actions))
    assert str(action_id) in str(caught.value) and "may still move" in str(caught.value)


def test_errored_action_is_a_router_error(api):
    api.fail_action = True
    with pytest.raises(RouterError) as caught:
        router(api).switch("green")
    assert not isinstance(caught.value, ActionTimeout)
    assert "errored" in str(caught.value) and "on blue" in str(caught.value)
    assert through_reserved_ip(api) == "blue"


def test_a_hung_connection_is_bounded_by_api_timeout(api):
    api.hang_next("GET", r"^/v2/reserved_ips/", 10, count=20)
    started = time.monotonic()
    with pytest.raises(RouterError, match="4 time"):
        router(api, api_timeout_s=0.3).read()
    assert time.monotonic() - started < 4.5       # 4 x 0.3 s plus 1.75 s of backoff


def test_one_hung_read_is_retried(api):
    api.hang_next("GET", r"^/v2/reserved_ips/", 10)
    started = time.monotonic()
    assert router(api, api_timeout_s=0.3).read().live == "blue"
    assert time.monotonic() - started < 1.5


def test_https_is_enforced_for_anything_but_loopback(api):
    env = {"DIGITALOCEAN_TOKEN": TOKEN, "DIGITALOCEAN_API_URL": "http://api.example.com"}
    with pytest.raises(RouterError, match="must be an https:// URL") as caught:
        DigitalOceanRouter(config(), env)
    assert TOKEN not in str(caught.value)
    DigitalOceanRouter(config(), {**env, "DIGITALOCEAN_API_URL": "https://api.example.com"})
    local = {**env, "DIGITALOCEAN_API_URL": api.url.replace("127.0.0.1", "localhost")}
    assert DigitalOceanRouter(config(), local).read().live == "blue"


def test_describe_names_the_reserved_ip(api):
    assert router(api).describe() == f"reserved IP {IP} via DigitalOcean API at {api.url}"


def test_stand_in_refuses_what_it_does_not_know(api):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    unknown = requests.get(f"{api.url}/v2/nope", headers=auth, timeout=2)
    assert (unknown.status_code, unknown.json()["id"]) == (404, "not_found")
    assert requests.get(f"{api.url}/v2/droplets/999", headers=auth, timeout=2).status_code == 404
    bad = requests.post(f"{api.url}/v2/reserved_ips/{IP}/actions", json={"type": "reboot"},
                        headers=auth, timeout=2)
    assert (bad.status_code, bad.json()["id"]) == (422, "unprocessable_entity")
    denied = requests.get(f"{api.url}/v2/reserved_ips/{IP}", timeout=2,
                          headers={"Authorization": "Bearer nope"})
    assert (denied.status_code, denied.json()["id"]) == (401, "unauthorized")
    shown = requests.get(f"{api.url}/v2/droplets/{GREEN}", headers=auth, timeout=2).json()
    assert shown["droplet"]["name"] == "green-1"


def test_forwarder_bounds_its_connections_and_stop_cuts_them():
    backend = socket.create_server(("127.0.0.1", 0))     # accepts (backlog) and never answers
    forwarder = Forwarder(("127.0.0.1", 0), lambda: backend.getsockname(), max_connections=2)
    with backend, forwarder:
        held = [socket.create_connection(forwarder.address, timeout=2) for _ in range(2)]
        time.sleep(0.1)
        with socket.create_connection(forwarder.address, timeout=2) as third:
            assert third.recv(1) == b""                     # over the bound: closed at once
        forwarder.stop()
        for sock in held:
            with sock:
                assert sock.recv(1) == b""                  # stop() cut the open ones
