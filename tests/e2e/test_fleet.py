"""The blue-green cycle on the production-shaped fleet (tests/support/fleet.py): real sshd
hosts running gunicorn behind nginx, deploys over SSH, state in Postgres, every scenario
through both routers, checked through the public address."""
from __future__ import annotations

import dataclasses
import time

import pytest

from deploy_core.errors import HealthError, NotPromotable, SmokeError, VerifyError
from deploy_core.events import Notice, OperationFinished, StepFinished
from deploy_core.pipeline import Pipeline
from sandbox.load import Load
from tests.support.fakes import Recorder
from tests.support.fleet import ROUTERS, Fleet

pytestmark = pytest.mark.e2e
BLUE, GREEN = "blue-fleet", "green-fleet"


@pytest.fixture(params=ROUTERS)
def router(request, fleet: Fleet) -> str:
    """Each test once per router, on a reset fleet: blue live, both colours on release 1.0.0."""
    fleet.reset()
    return request.param


def first_line(fleet: Fleet, url: str) -> str:
    return fleet.get(url)[1].splitlines()[0]


def assert_blue_untouched(fleet: Fleet, router: str, p: Pipeline) -> None:
    first = fleet.releases[0][:7]
    assert fleet.serving(router) == (BLUE, f"Welcome to shop — version 1.0.0 ({first})")
    assert fleet.router_colour(router) == "blue"
    assert first_line(fleet, fleet.apps["blue"].url + "/").endswith(f"({first})")
    assert p.store.current_lock() is None


def test_full_cycle_under_load(fleet: Fleet, router: str) -> None:
    events = Recorder()
    p = fleet.pipeline(router, events)
    status = p.status().to_json()
    assert (status["live"], status["idle"], status["router"]) == ("blue", "green", "ok")
    new = fleet.add_commit("Shop v4: wishlist", {"VERSION": "1.3.0\n"})
    load = Load(fleet.public_url(router) + "/hostname", workers=2, interval=0.02, timeout=5,
                max_requests=4000, max_seconds=90).start()
    try:
        result = p.deploy("main", "alice")
        assert (result.colour, result.sha, result.smoke_ok) == ("green", new, True)
        assert fleet.serving(router)[0] == BLUE                  # deploy never touches live
        assert first_line(fleet, fleet.apps["green"].url + "/") == \
            f"Welcome to shop — version 1.3.0 ({new[:7]})"
        promote_at = time.time()
        promoted = p.promote("alice")
        assert (promoted.from_colour, promoted.to_colour, promoted.verified) == ("blue", "green", True)
        assert fleet.serving(router) == (GREEN, f"Welcome to shop — version 1.3.0 ({new[:7]})")
        assert fleet.router_colour(router) == "green"
        assert [c.subject for c in promoted.notes][0] == "Shop v4: wishlist"
        time.sleep(0.3)                                          # let the load see green
        rollback_at = time.time()
        back = p.rollback("alice")
        assert (back.from_colour, back.to_colour, back.verified) == ("green", "blue", True)
        time.sleep(0.3)
    finally:
        seen = load.stop()
    first = fleet.releases[0][:7]
    assert fleet.serving(router) == (BLUE, f"Welcome to shop — version 1.0.0 ({first})")
    assert fleet.router_colour(router) == "blue"
    assert seen.failed == 0, seen.errors
    assert seen.sent >= 30
    greens = [t for t, body in seen.answers if body == GREEN]
    assert greens and promote_at <= min(greens) <= rollback_at
    assert {body for _, body in seen.answers} == {BLUE, GREEN}
    assert [body for _, body in sorted(seen.answers)[-5:]] == [BLUE] * 5   # back on blue
    final = p.status().to_json()
    assert final["colours"]["green"]["sha"] == new and final["lock"] is None
    assert [(h.kind, h.status) for h in p.history()][:3] == [
        ("rollback", "succeeded"), ("promote", "succeeded"), ("deploy", "succeeded")]
    hosts = {e.host for e in events.of(StepFinished) if e.name.startswith("step ")}
    assert hosts == {"127.0.0.13"}                      # the steps ran on green's host


def test_release_that_never_gets_healthy(fleet: Fleet, router: str) -> None:
    p = fleet.pipeline(router, deploy={"health_timeout_s": 1.5})
    bad = fleet.add_commit("broken: health fails", {"UNHEALTHY": "yes\n"})
    with pytest.raises(HealthError) as info:
        p.deploy("main", "alice")
    message = str(info.value)
    assert message.startswith("health check failed on green:")
    assert "http://127.0.0.13:8081/healthz never answered 2xx within 1.5s (last: HTTP 503)" in message
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.sha, dep.promotable) == ("failed", bad, False)
    assert first_line(fleet, fleet.apps["green"].url + "/").endswith(f"({bad[:7]})")
    assert_blue_untouched(fleet, router, p)
    with pytest.raises(NotPromotable, match="failed: health check failed"):
        p.promote("alice")
    assert fleet.serving(router)[0] == BLUE


def test_smoke_failure_refuses_promote_until_forced(fleet: Fleet, router: str) -> None:
    events = Recorder()
    p = fleet.pipeline(router, events)
    p.config = dataclasses.replace(p.config, smoke=(dataclasses.replace(
        p.config.smoke[0], contains="version 9.9"),))
    new = fleet.add_commit("Shop v4: wishlist", {"VERSION": "1.3.0\n"})
    with pytest.raises(SmokeError, match="expected the page to contain 'version 9.9'"):
        p.deploy("main", "alice")
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.smoke_ok, dep.promotable) == ("failed", False, False)
    with pytest.raises(NotPromotable, match="--force"):
        p.promote("alice")
    assert_blue_untouched(fleet, router, p)
    events.clear()
    forced = p.promote("alice", force=True)
    assert (forced.to_colour, forced.forced, forced.verified) == ("green", True, True)
    assert fleet.serving(router) == (GREEN, f"Welcome to shop — version 1.3.0 ({new[:7]})")
    assert any(n.text.startswith("FORCED promote of green by alice") for n in events.of(Notice))
    assert "(FORCED)" in events.of(OperationFinished)[-1].message


def test_failed_verification_puts_traffic_back(fleet: Fleet, router: str) -> None:
    fleet.pipeline(router).deploy("main", "alice")
    green = fleet.config(router).colours["green"]
    events = Recorder()
    p = fleet.pipeline(router, events, promote={"verify_timeout_s": 1.0})
    p.config = dataclasses.replace(p.config, colours={
        **p.config.colours, "green": dataclasses.replace(green, identity="green-elsewhere")})
    with pytest.raises(VerifyError) as info:
        p.promote("alice")
    assert "did not answer 'green-elsewhere' 3 times in a row within 1s" in str(info.value)
    assert str(info.value).endswith("Traffic was put back to blue (verified).")
    finished = {e.name: e.ok for e in events.of(StepFinished) if e.host is None}
    assert finished == {"switch": True, "verify": False, "put back": True, "verify put back": True}
    assert_blue_untouched(fleet, router, p)
    switch = p.store.history(1)[0]
    assert (switch.kind, switch.status) == ("promote", "failed")
