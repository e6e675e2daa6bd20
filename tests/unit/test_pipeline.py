"""The deploy runbook and the small commands, in memory: a real Pipeline and SQLite store
over fakes that refuse the unexpected (tests/support/fakes.py). Each test takes
milliseconds; tests/e2e proves the same story on real sshd, gunicorn, nginx and Postgres."""
from __future__ import annotations

import threading
import time

import pytest

from deploy_core.errors import (Cancelled, HealthError, LockHeld, NotPromotable, ReleaseError,
                                RouterError, RouterMismatch, SmokeError, StepFailed, UnknownRef)
from deploy_core.events import Notice, OperationFinished, OperationStarted
from deploy_core.pause import Pause
from deploy_core.running import NO_RELEASE_PATH
from deploy_core.store import LockLost
from deploy_core.transports import CommandResult
from tests.support.fakes import A, B, FakeFleet, Unexpected, names, ok, status


@pytest.fixture
def fleet(tmp_path):
    f = FakeFleet(tmp_path)
    yield f
    f.close()


def finished(fleet) -> OperationFinished:
    return fleet.events.of(OperationFinished)[-1]


# -- the happy path ----------------------------------------------------------------------
def test_deploy_puts_the_release_on_the_idle_colour_and_proves_it(fleet):
    p = fleet.pipeline()
    result = p.deploy("main", "alice")
    assert (result.colour, result.sha, result.replaced_sha) == ("green", B, A)
    assert result.replaced_foreign and result.release_proven and result.smoke_checks == 1
    assert result.evidence.endswith("ready to promote")
    assert names(fleet.events) == [
        ("fetch", "10.0.0.3", True), ("resolve", "10.0.0.3", True),
        ("step 1: git checkout --force --detach {sha}", "10.0.0.3", True),
        ("step 2: reload", "10.0.0.3", True), ("release", "10.0.0.3", True),
        ("health", "10.0.0.3", True), ("smoke: home page", "10.0.0.3", True)]
    assert fleet.steps_ran("10.0.0.2") == []                 # the live colour is never touched
    assert fleet.router.switches == []
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.sha, dep.promotable, dep.smoke_ok) == ("succeeded", B, True, True)
    assert p.store.colour_state("green").sha == B and p.store.current_lock() is None
    started = fleet.events.of(OperationStarted)[0]
    assert (started.replaces, started.replaces_foreign, started.replaces_proven) == (A, True, True)
    done = finished(fleet)
    assert done.ok and done.op_id == dep.id and done.message.startswith(f"main @ {B[:7]} is on green")
    assert [s.name for s in p.store.steps(dep.id)][:2] == ["fetch", "resolve"]


def test_every_step_is_recorded_with_its_command(fleet):
    p = fleet.pipeline()
    dep = p.deploy("main", "alice").deployment_id
    commands = [s.command for s in p.store.steps(dep)]
    assert f"git checkout --force --detach {B}" in commands and "reload" in commands


# -- what stops a deploy --------------------------------------------------------------------
def test_an_unknown_ref_is_refused_after_fetch(fleet):
    with pytest.raises(UnknownRef, match="no branch, tag or commit named 'nope'"):
        fleet.pipeline().deploy("nope", "alice")
    assert fleet.steps_ran("10.0.0.3")[-1].startswith("git rev-parse")   # no step ran


def test_a_failing_step_stops_the_deploy_and_names_host_and_exit(fleet):
    fleet.transport.on("reload", CommandResult(3, "", "boom"))
    p = fleet.pipeline()
    with pytest.raises(StepFailed) as info:
        p.deploy("main", "alice")
    assert (info.value.host, info.value.exit_status, info.value.tail) == ("10.0.0.3", 3, ["[stderr] boom"])
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.promotable) == ("failed", False)
    assert not finished(fleet).ok and finished(fleet).error_type == "StepFailed"
    assert p.store.current_lock() is None


def test_a_reload_that_never_serves_the_new_release_fails_release_proof(fleet):
    fleet.hosts["green"].reload_serves = False           # the old workers keep serving
    p = fleet.pipeline()
    with pytest.raises(ReleaseError) as info:
        p.deploy("main", "alice")
    assert str(info.value) == (f"release proof failed on green: 10.0.0.3 still serves {A[:7]} "
                               f"(not {B[:7]}) after 0.3s")
    assert ("health", "10.0.0.3", True) not in names(fleet.events)      # never reached
    assert p.store.latest_deployment("green").status == "failed"


def test_an_unhealthy_release_fails_health_after_release_proof(fleet):
    fleet.hosts["green"].healthy = False
    with pytest.raises(HealthError, match=r"never answered 2xx within 0.3s \(last: HTTP 503\)"):
        fleet.pipeline().deploy("main", "alice")
    assert ("release", "10.0.0.3", True) in names(fleet.events)


def test_a_failed_smoke_check_leaves_the_release_there_but_not_promotable(fleet):
    fleet.hosts["green"].page = "Closed"
    p = fleet.pipeline()
    with pytest.raises(SmokeError) as info:
        p.deploy("main", "alice")
    assert info.value.needs == "promote-force" and "--force" in str(info.value)
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.smoke_ok, dep.promotable) == ("failed", False, False)
    assert p.store.colour_state("green").sha == B


def test_without_release_path_a_deploy_warns_and_never_says_ready(fleet):
    result = fleet.configure(app={"release_path": None}).pipeline().deploy("main", "alice")
    assert [n.text for n in fleet.events.of(Notice)].count(NO_RELEASE_PATH) == 1
    assert "ready" not in result.evidence and ("release", "10.0.0.3", True) not in names(fleet.events)


def test_a_lock_held_refuses_before_anything_runs(fleet):
    p = fleet.pipeline()
    p.lock("bob", "db maintenance")
    with pytest.raises(LockHeld, match="bob has a hold"):
        p.deploy("main", "alice")
    assert fleet.transport.ran == [] and not finished(fleet).ok
    assert p.store.latest_deployment() is None


def test_a_router_that_points_nowhere_stops_the_deploy(fleet):
    fleet.router.status = "unassigned"
    with pytest.raises(RouterError) as info:
        fleet.pipeline().deploy("main", "alice")
    assert info.value.needs == "promote-to" and "promote --to COLOUR" in str(info.value)
    assert fleet.transport.ran == []


def test_router_and_public_url_disagreeing_stops_the_deploy(fleet):
    fleet.http.answer("http://shop.test/hostname", ok("green-prod"))
    with pytest.raises(RouterMismatch, match="the router says blue is live"):
        fleet.pipeline().deploy("main", "alice")
    assert fleet.transport.ran == []


def test_an_unreachable_public_url_is_a_warning_not_a_refusal(fleet):
    fleet.http.answer("http://shop.test/hostname", status(502))
    assert fleet.pipeline().deploy("main", "alice").colour == "green"
    assert any("could not cross-check" in n.text for n in fleet.events.of(Notice))


# -- cancel, lease lost, discard --------------------------------------------------------------
def test_cancel_stops_before_the_next_step(fleet, tmp_path):
    stage = tmp_path / "pause"
    stage.mkdir()
    p = fleet.pipeline(pause=Pause(frozenset({"deploy:steps"}), stage))
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_catch(lambda: p.deploy("main", "alice"))))
    worker.start()
    _wait(lambda: (stage / "deploy:steps.reached").exists())
    assert p.cancel("bob") == p.store.latest_deployment("green").id
    worker.join(5)
    assert isinstance(outcome[0], Cancelled)
    dep = p.store.latest_deployment("green")
    assert (dep.status, dep.promotable, dep.cancel_requested_by) == ("cancelled", False, "bob")
    assert not any(c.startswith("git checkout") for c in fleet.steps_ran("10.0.0.3"))
    assert p.store.current_lock() is None


def test_nothing_to_cancel_says_so(fleet):
    assert fleet.pipeline().cancel("bob") is None


def test_a_lost_lease_stops_the_deploy_before_the_next_step(fleet):
    p = fleet.configure(deploy={"lease_s": 0.06}).pipeline()

    def steal(host, command):                    # another process frees our lock meanwhile
        fleet.free_lock_behind_our_back()
        time.sleep(0.2)                          # our renewing thread notices
        return CommandResult(0, "", "")
    fleet.transport.on("git checkout --force --detach " + B, steal)
    with pytest.raises(LockLost, match="lost its operation lock"):
        p.deploy("main", "alice")
    assert "reload" not in fleet.steps_ran("10.0.0.3")


def test_discard_marks_the_idle_release_not_promotable(fleet):
    p = fleet.pipeline()
    p.deploy("main", "alice")
    dep = p.discard("bob")
    assert (dep.promotable, dep.promotable_note) == (False, "discarded by bob")
    with pytest.raises(NotPromotable, match="discarded by bob"):
        p.promote("alice")


def test_discard_with_nothing_deployed_is_refused(fleet):
    with pytest.raises(NotPromotable, match="nothing has been deployed to green"):
        fleet.pipeline().discard("bob")


def test_an_unscripted_command_fails_the_test_not_silently(fleet):
    with pytest.raises(Unexpected, match="unscripted command on 10.0.0.3: 'rm -rf /'"):
        fleet.configure(deploy={"steps": ("rm -rf /",)}).pipeline().deploy("main", "alice")


# -- helpers ---------------------------------------------------------------------------------
def _catch(call):
    try:
        return call()
    except BaseException as exc:  # noqa: BLE001 - the test looks at it
        return exc


def _wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.005)
