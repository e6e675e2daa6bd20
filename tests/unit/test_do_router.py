"""The DigitalOcean router against the real DOStandIn over HTTP: pydo and azure-core stay real."""
from __future__ import annotations

import socket
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Iterator

import pytest
import requests

from deploy_core.checks import _router as check_router
from deploy_core.config import (AppConfig, ColourConfig, Config, DeployConfig, PromoteConfig,
                                RouterConfig, SlackConfig, SSHConfig)
from deploy_core.errors import ActionTimeout, RouterAuthError, RouterError
from deploy_core.routers.digitalocean import DigitalOceanRouter
from tests.support.tiny_http import TinyHTTP, saying
from sandbox.do_api import DOStandIn
from sandbox.forwarder import Forwarder

TOKEN = "dop_v1_s3cret-token-for-tests"
NO_DROPLETS = "dop_v1_token-without-droplet-read"     # a custom-scoped token
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


def config(ip: str = IP, green: int = GREEN, **router: float) -> Config:
    options = {"action_timeout_s": 3.0, "action_interval_s": 0.05, "api_timeout_s": 2.0, **router}
    return Config(
        app=AppConfig(name="shop", public_url="http://127.0.0.1:8080"), ssh=SSHConfig(),
        deploy=DeployConfig(transport="local"), promote=PromoteConfig(), smoke=(),
        colours={"blue": ColourConfig("blue", "blue-production", (), BLUE),
                 "green": ColourConfig("green", "green-production", (), green)},
        router=RouterConfig(kind="digitalocean", reserved_ip=ip, **options), slack=SlackConfig())


def router(api: DOStandIn, events: list[str] | None = None, token: str = TOKEN,
           green: int = GREEN, **options: float) -> DigitalOceanRouter:
    env = {"DIGITALOCEAN_TOKEN": token, "DIGITALOCEAN_API_URL": api.url}
    ip = str(options.pop("ip", IP))
    return DigitalOceanRouter(config(ip, green, **options), env,
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
    assert "wrong-and-secret" not in repr(caught.value) + repr(caught.value.fields)
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


def someone_else(api: DOStandIn, action: dict) -> None:
    """An action sent by another client (the console, another replica) over the API."""
    answer = requests.post(f"{api.url}/v2/reserved_ips/{IP}/actions", json=action,
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
    assert answer.status_code == 201


def test_a_422_while_another_action_holds_the_ip_waits_then_sends_ours(api):
    someone_else(api, {"type": "unassign"})          # in progress when bluegreen asks for green
    router(api).switch("green")
    assert posts(api) == [201, 422, 201]
    assert router(api).read().live == "green"


def test_stand_in_locks_the_ip_while_an_action_runs(api):
    someone_else(api, {"type": "unassign"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    shown = requests.get(f"{api.url}/v2/reserved_ips/{IP}", headers=auth, timeout=2).json()
    assert shown["reserved_ip"]["locked"] is True
    second = requests.post(f"{api.url}/v2/reserved_ips/{IP}/actions", headers=auth, timeout=2,
                           json={"type": "assign", "droplet_id": GREEN})
    assert (second.status_code, second.json()["id"]) == (422, "unprocessable_entity")
    assert "pending" not in second.json()["message"]   # the router must decide from `locked`


def test_a_422_on_a_locked_ip_whose_action_took_ours_waits_and_does_not_resend(api):
    api.fail_next("POST", r"/actions$", 422, take_effect=True)   # generic 422 wording
    events: list[str] = []
    router(api, events).switch("green")
    assert posts(api) == [422]
    assert router(api).read().live == "green"
    assert any("in progress on reserved IP" in e for e in events)


def test_a_422_while_another_assign_to_our_target_runs_is_not_resent(api):
    someone_else(api, {"type": "assign", "droplet_id": GREEN})
    router(api).switch("green")
    assert posts(api) == [201, 422]
    assert router(api).read().live == "green"


def test_a_422_already_on_the_target_is_done_without_resending(api):
    api.action_delay_s = 0                     # the hidden success completes at once: no lock
    api.fail_next("POST", r"/actions$", 422, take_effect=True)
    events: list[str] = []
    router(api, events).switch("green")
    assert posts(api) == [422]
    assert any("already on droplet 222222: not resending" in e for e in events)
    assert through_reserved_ip(api) == "green"


def test_a_422_on_an_unlocked_ip_elsewhere_is_a_clear_refusal(api, backends):
    api.add_droplet(GREEN, "green-1", backends["green"], region_slug="ams3")
    with pytest.raises(RouterError) as caught:
        router(api).switch("green")
    text = str(caught.value)
    assert not isinstance(caught.value, ActionTimeout)
    assert "422 unprocessable_entity" in text and "same region" in text    # the API's message
    assert "no action is in progress" in text and "droplet 111111 (blue-1)" in text
    assert posts(api) == [422]
    assert router(api).read().live == "blue"


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


# -- rate limits: the burst limit says Retry-After, the hourly one only ratelimit-reset ------------
def test_a_burst_429_on_the_assign_waits_retry_after_then_sends_once_more(api):
    api.fail_next("POST", r"/actions$", 429, retry_after=0.3)
    events: list[str] = []
    router(api, events).switch("green")
    assert posts(api) == [429, 201]
    assert any("rate limited" in e for e in events)
    assert router(api).read().live == "green"


def test_an_hourly_429_on_a_read_waits_until_ratelimit_reset_within_the_budget(api):
    api.use_up_rate_limit(1.5)                       # every request refused until the reset
    events: list[str] = []
    started = time.monotonic()
    assert router(api, events, action_timeout_s=3).read().live == "blue"
    assert time.monotonic() - started < 3.5
    assert [s for m, _, s in api.requests if m == "GET"] == [429, 200]   # one wait, to the reset
    assert any("429" in e and "retrying" in e for e in events)


def test_an_hourly_429_on_the_assign_waits_until_ratelimit_reset(api):
    api.use_up_rate_limit(1.5, "POST", r"/actions$")
    started = time.monotonic()
    router(api, action_timeout_s=3).switch("green")
    assert time.monotonic() - started < 6.5          # the wait, then the action
    assert posts(api) == [429, 201]
    assert router(api).read().live == "green"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_hourly_429_resetting_beyond_the_budget_fails_at_once_naming_the_reset(api, method):
    reset = api.use_up_rate_limit(3600, method, r"^/v2/reserved_ips/")
    started = time.monotonic()
    with pytest.raises(RouterError) as caught:
        router(api, action_timeout_s=3).switch("green")
    assert time.monotonic() - started < 1
    text = str(caught.value)
    assert "429" in text and "rate limit" in text and "action_timeout_s" in text
    assert f"{datetime.fromtimestamp(reset, timezone.utc):%Y-%m-%d %H:%M:%S} UTC" in text
    assert caught.value.resets_at == datetime.fromtimestamp(reset, timezone.utc).isoformat()
    assert posts(api) == ([429] if method == "POST" else [])
    assert api.target_of(IP) == api.targets[BLUE]


def test_a_429_from_fail_next_has_the_burst_or_the_hourly_headers(api):
    api.fail_next("GET", r"^/v2/reserved_ips/", 429, retry_after=7)
    api.fail_next("GET", r"^/v2/reserved_ips/", 429, reset_in=60)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    burst, hourly = (requests.get(f"{api.url}/v2/reserved_ips/{IP}", headers=auth, timeout=2)
                     for _ in range(2))
    assert (burst.status_code, burst.headers["retry-after"]) == (429, "7")
    assert hourly.status_code == 429 and "retry-after" not in hourly.headers
    assert hourly.headers["ratelimit-remaining"] == "0"
    assert 0 < int(hourly.headers["ratelimit-reset"]) - time.time() <= 61
    assert hourly.json()["id"] == "too_many_requests"


# -- what the token may read ---------------------------------------------------------------------
def test_stand_in_hides_the_droplet_from_a_token_without_droplet_read(api):
    api.add_token(NO_DROPLETS, {"reserved_ip:read", "reserved_ip:update"})
    auth = {"Authorization": f"Bearer {NO_DROPLETS}"}
    shown = requests.get(f"{api.url}/v2/reserved_ips/{IP}", headers=auth, timeout=2).json()
    assert "droplet" not in shown["reserved_ip"] and shown["reserved_ip"]["locked"] is False
    denied = requests.get(f"{api.url}/v2/droplets/{BLUE}", headers=auth, timeout=2)
    assert (denied.status_code, denied.json()["id"]) == (403, "forbidden")
    assert set(denied.json()) >= {"id", "message"}


def test_a_token_without_droplet_read_is_named_not_taken_for_unassigned(api):
    api.add_token(NO_DROPLETS, {"reserved_ip:read", "reserved_ip:update"})
    r = router(api, token=NO_DROPLETS)
    with pytest.raises(RouterAuthError, match="lacks the droplet:read scope") as caught:
        r.read()                                     # the IP is on blue; it would look unassigned
    assert "looks unassigned" in str(caught.value)
    with pytest.raises(RouterAuthError, match="droplet:read"):
        r.check_access()
    items = check_router(SimpleNamespace(router=r))
    assert [(i.name, i.ok) for i in items] == [("router token", False)]
    assert "droplet:read" in items[0].detail and items[0].fix == "give the token the droplet:read scope"
    assert posts(api) == []


def test_a_401_on_droplets_for_a_token_that_reads_the_ip_names_the_scope(api):
    api.fail_next("GET", r"^/v2/droplets/", 401)
    with pytest.raises(RouterAuthError, match="lacks the droplet:read scope") as caught:
        router(api).check_access()
    assert caught.value.scope == "droplet:read"


def test_a_token_without_reserved_ip_read_is_named(api):
    api.add_token(NO_DROPLETS, {"droplet:read"})
    items = check_router(SimpleNamespace(router=router(api, token=NO_DROPLETS)))
    assert [(i.name, i.ok) for i in items] == [("router token", False)]
    assert "403 forbidden" in items[0].detail and "reserved_ip:read" in items[0].detail


def test_check_names_a_droplet_that_does_not_exist(api):
    r = router(api, green=999999)
    with pytest.raises(RouterError, match="droplet 999999 .colours.green.droplet_id. does not exist"):
        r.check_access()
    items = check_router(SimpleNamespace(router=r))
    assert [(i.name, i.ok) for i in items] == [("router token", False), ("router", True)]
    assert "999999" in items[0].detail and "blue is live" in items[1].detail


def test_check_says_what_the_token_was_seen_reading(api):
    items = check_router(SimpleNamespace(router=router(api)))
    assert [(i.name, i.ok) for i in items] == [("router token", True), ("router", True)]
    assert "blue 111111 (blue-1)" in items[0].detail and "green 222222 (green-1)" in items[0].detail
    assert "reserved_ip:update" in items[0].detail        # said as not proven
    gets = [p for m, p, _ in api.requests if m == "GET"]
    assert f"/v2/droplets/{BLUE}" in gets and f"/v2/droplets/{GREEN}" in gets


def test_an_unassigned_ip_is_read_as_unassigned_by_a_token_that_may_read_droplets(api):
    api.assign_now(IP, None)
    r = router(api)
    assert r.read().status == r.read().status == "unassigned"
    probes = [p for m, p, _ in api.requests if m == "GET" and p.startswith("/v2/droplets/")]
    assert probes == [f"/v2/droplets/{BLUE}"]                # proven once, then believed
