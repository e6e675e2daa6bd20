"""Release proof, what each colour really runs, and your own e2e tests as smoke — on the
sandbox (real gunicorn, graceful HUP, no step that waits for the new workers) and on the
SSH fleet (real sshd, nginx in front of gunicorn, Postgres state), on both routers."""
from __future__ import annotations

import dataclasses
import json

import pytest

from deploy_core.errors import (HealthError, NotPromotable, ReleaseError, SmokeError,
                                VerifyError)
from deploy_core.events import Notice, StepFinished
from deploy_core.results import CheckItem
from deploy_core.running import NO_RELEASE_PATH
from sandbox import repo
from tests.support.fleet import ROUTERS, Fleet

pytestmark = pytest.mark.e2e


def app_release(version: str, **swaps: str) -> dict[str, str]:
    """The sample app at ``version`` with source text replaced: ``{old: new}``."""
    files = repo.release_files(version, f"release {version}")
    for old, new in swaps.items():
        assert old in files["app.py"], old
        files["app.py"] = files["app.py"].replace(old, new)
    return files


BROKEN_HEALTH = {'return "ok", 200, {"Content-Type": "text/plain"}':
                 'return "broken", 500, {"Content-Type": "text/plain"}'}
BROKEN_PAGE = {'TITLE = "Welcome to shop"': 'TITLE = "Closed for inventory"'}
VERSION_ROUTE = 'return SHA, 200, {"Content-Type": "text/plain"}'


def state_of(p, colour: str) -> tuple:
    dep = p.store.latest_deployment(colour)
    return dep.status, dep.promotable


# -- the sandbox ------------------------------------------------------------------------------
def test_a_release_whose_health_breaks_is_refused_after_a_real_reload(cycle):
    """Health used to pass on the old workers right after HUP: now it waits for the new sha."""
    p = cycle.pipeline(deploy={"health_timeout_s": 3})
    bad = cycle.sb.add_commit("broken health", app_release("2.0.0", **BROKEN_HEALTH))
    with pytest.raises(HealthError) as info:
        p.deploy("main", "alice")
    assert not isinstance(info.value, ReleaseError)
    assert "health check failed on green" in str(info.value) and "HTTP 500" in str(info.value)
    proofs = [e for e in cycle.events.of(StepFinished) if e.name == "release"]
    assert [(e.ok, e.detail) for e in proofs] == [(True, bad[:7])]      # the new workers served it
    assert state_of(p, "green") == ("failed", False)
    with pytest.raises(NotPromotable):
        p.promote("alice")
    assert cycle.live() == "blue-sandbox" and p.store.current_lock() is None


def test_a_release_whose_page_breaks_fails_smoke_and_e2e_after_a_real_reload(cycle):
    p = cycle.p
    bad = cycle.sb.add_commit("closed", app_release("2.0.0", **BROKEN_PAGE))
    with pytest.raises(SmokeError) as info:
        p.deploy("main", "alice")
    message = str(info.value)
    assert "'home page' on 127.0.0.43: /: expected the page to contain 'Welcome'" in message
    assert "'e2e' on 127.0.0.43: `e2e` exited 1: " in message and "1 of 3 checks failed" in message
    assert state_of(p, "green") == ("failed", False)
    with pytest.raises(NotPromotable, match="--force"):
        p.promote("alice")
    assert cycle.live() == "blue-sandbox"
    steps = {s.name: s for s in p.store.steps(p.store.latest_deployment("green").id)}
    e2e = steps["smoke: e2e"]                   # your tests' output is in the deploy's log
    assert e2e.exit_status == 1 and "FAIL home page welcomes" in e2e.output
    assert "e2e_check.py" in e2e.command and "http://127.0.0.43:8000" in e2e.command
    assert p.promote("alice", force=True).to_sha == bad


@pytest.mark.parametrize("route, said", [
    ('return "v2.0.0", 200, {"Content-Type": "text/plain"}', "/version answered 'v2.0.0', not a sha"),
    ('return "", 200, {"Content-Type": "text/plain"}', "/version answered an empty body"),
    ('return "gone", 404, {"Content-Type": "text/plain"}', "/version answered HTTP 404"),
    ('return "1234567" + "0" * 33, 200, {"Content-Type": "text/plain"}', "still serves 1234567"),
], ids=["not-a-sha", "empty", "404", "another-sha"])
def test_a_host_that_never_proves_the_release_is_named_with_its_answer(cycle, route, said):
    p = cycle.pipeline(deploy={"health_timeout_s": 1.5})
    bad = cycle.sb.add_commit("odd version route", app_release("2.0.0", **{VERSION_ROUTE: route}))
    with pytest.raises(ReleaseError) as info:
        p.deploy("main", "alice")
    message = str(info.value)
    assert message.startswith("release proof failed on green: 127.0.0.43 ") and said in message
    assert message.endswith("after 1.5s") and bad[:7] in message
    assert state_of(p, "green") == ("failed", False)
    assert cycle.live() == "blue-sandbox" and p.store.current_lock() is None
    assert not [e for e in cycle.events.of(StepFinished) if e.name == "health"]   # never reached


def test_without_release_path_every_deploy_and_check_warn_once(cycle):
    p = cycle.pipeline(app={"release_path": None})
    result = p.deploy("main", "alice")
    warnings = [n.text for n in cycle.events.of(Notice) if n.text == NO_RELEASE_PATH]
    assert len(warnings) == 1 and '@app.get("/version")' in warnings[0]
    assert "cannot prove" in result.evidence and "ready" not in result.evidence
    items = p.check()
    warned = [i for i in items if i.warning]
    assert warned == [CheckItem("release proof", True, NO_RELEASE_PATH, warning=True)]
    assert not any(i.name.endswith(" release") for i in items)
    reach = [i for i in items if i.name.endswith(" local")]
    assert reach and all("no host key" in i.detail and "verified" not in i.detail for i in reach)
    status = p.status()                       # not proven: read from the checkout, and said so
    green = status.colours["green"]
    assert (green.running, green.running_proven) == (result.sha, False)
    assert "checked out" in green.running_detail


def test_check_reads_each_hosts_release(cycle):
    items = {i.name: i for i in cycle.p.check()}
    first = repo.commits(cycle.sb.origin)[0]
    assert items["blue 127.0.0.42 release"].ok
    assert items["blue 127.0.0.42 release"].detail.endswith(f"serves {first[:7]}")
    assert not any(i.warning for i in items.values())


def test_e2e_smoke_command_passes_and_a_hanging_one_is_stopped(cycle):
    p = cycle.p
    result = p.deploy("main", "alice")
    steps = {s.name: s for s in p.store.steps(result.deployment_id)}
    assert steps["smoke: e2e"].exit_status == 0 and "all 3 checks passed" in steps["smoke: e2e"].output
    hang = dataclasses.replace(p.config.smoke[-1], run="echo started; sleep 60", timeout_s=1.0)
    slow = cycle.pipeline()
    slow.config = dataclasses.replace(slow.config, smoke=(hang,))
    with pytest.raises(SmokeError, match=r"`e2e` ran past its 1s timeout and was stopped"):
        slow.deploy("main", "alice")
    assert slow.store.current_lock() is None and cycle.live() == "blue-sandbox"


def test_running_on_a_colour_bluegreen_never_deployed(cycle):
    first = repo.commits(cycle.sb.origin)[0]
    out = cycle.p.status().to_json()
    for colour in ("blue", "green"):
        c = out["colours"][colour]
        assert (c["sha"], c["running"], c["running_proven"]) == (None, first, True)
        assert [h["running"] for h in c["hosts"]] == [first]
    assert (out["schema"], out["watch"], out["freeze"], out["queue"]) == (None, None, None, [])
    json.dumps(out)


def test_verification_checks_the_release_through_the_public_url(cycle):
    """Identity right, release wrong (as when the router reaches a stale backend): put back."""
    p = cycle.pipeline(promote={"verify_timeout_s": 1.0})
    p.deploy("main", "alice")
    green = cycle.sb.hosts["green"]
    real_switch = p.router.switch

    def switch_then_green_goes_stale(colour: str) -> None:
        real_switch(colour)
        if colour == "green":     # a file the sample app reads on every request (a test knob)
            (green.checkout / "RELEASE").write_text("0" * 40)
    p.router.switch = switch_then_green_goes_stale
    try:
        with pytest.raises(VerifyError) as info:
            p.promote("alice")
    finally:
        (green.checkout / "RELEASE").unlink(missing_ok=True)
    message = str(info.value)
    assert "(last: '/version: 0000000, not " in message
    assert message.endswith("Traffic was put back to blue (verified).")
    assert cycle.live() == "blue-sandbox"


# -- the SSH fleet ----------------------------------------------------------------------------
@pytest.fixture(params=ROUTERS)
def router(request, fleet: Fleet) -> str:
    fleet.reset()
    return request.param


def test_fleet_refuses_broken_health_and_broken_page_after_a_real_reload(fleet: Fleet, router: str):
    p = fleet.pipeline(router, deploy={"health_timeout_s": 3})
    fleet.add_commit("broken health", app_release("2.0.0", **BROKEN_HEALTH))
    with pytest.raises(HealthError, match="HTTP 500"):
        p.deploy("main", "alice")
    with pytest.raises(NotPromotable):
        p.promote("alice")
    fleet.add_commit("closed", app_release("2.1.0", **BROKEN_PAGE))
    with pytest.raises(SmokeError, match="expected the page to contain 'Welcome'"):
        p.deploy("main", "alice")
    with pytest.raises(NotPromotable, match="--force"):
        p.promote("alice")
    assert fleet.serving(router)[0] == "blue-fleet" and fleet.router_colour(router) == "blue"
    assert p.store.current_lock() is None


def test_fleet_running_is_read_from_hosts_bluegreen_never_deployed(fleet: Fleet, router: str):
    events: list = []
    p = fleet.pipeline(router, events.append)
    first = fleet.releases[0]
    status = p.status()
    assert {c: (s.sha, s.running, s.running_proven) for c, s in status.colours.items()} == \
        {"blue": (None, first, True), "green": (None, first, True)}
    new = fleet.add_commit("Shop v4", {"VERSION": "1.3.0\n"})
    result = p.deploy("main", "alice")
    assert result.replaced_sha == first and result.replaced_foreign
    promoted = p.promote("alice")
    assert (promoted.from_sha, promoted.to_sha) == (first, new)
    verify = [e for e in events if isinstance(e, StepFinished) and e.name == "verify"]
    assert [e.detail for e in verify] == [f"green-fleet answered 3x, serving {new[:7]}"]
    green = p.status().colours["green"]
    assert (green.sha, green.running, green.running_proven, green.foreign) == (new, new, True, False)
