"""Promote, rollback and verification in memory — every rule of DESIGN.md's promote,
rollback and verification paragraphs — on a real Pipeline and SQLite store over fakes
that refuse the unexpected (tests/support/fakes.py)."""
from __future__ import annotations

import pytest

from deploy_core.errors import (ActionTimeout, HealthError, NotPromotable, NotRollbackable,
                                RouterError, SmokeError, UsageError, VerifyError)
from deploy_core.events import Notice, OperationFinished, OperationStarted
from tests.support.fakes import A, B, C, FakeFleet, names, ok, status


@pytest.fixture
def fleet(tmp_path):
    f = FakeFleet(tmp_path)
    yield f
    f.close()


@pytest.fixture
def deployed(fleet):
    """B deployed to green and passed: promotable."""
    p = fleet.pipeline()
    p.deploy("main", "alice")
    fleet.events.clear()
    return p


PUBLIC = "http://shop.test/hostname"


# -- promote ------------------------------------------------------------------------------
def test_promote_switches_to_the_idle_colour_and_verifies(fleet, deployed):
    result = deployed.promote("alice")
    assert (result.from_colour, result.to_colour, result.from_sha, result.to_sha) == ("blue", "green", A, B)
    assert result.verified and not result.forced and fleet.router.switches == ["green"]
    assert fleet.http.count(PUBLIC) >= 3                       # verify_count answers of green
    assert names(fleet.events)[-3:] == [("health", "10.0.0.3", True), ("switch", None, True),
                                        ("verify", None, True)]
    switch = deployed.store.last_switch()
    assert (switch.kind, switch.status, switch.verified, switch.to_colour) == ("promote", "succeeded", True, "green")
    assert deployed.store.latest_deployment("green").promotable        # the live release stays so
    assert [(c.sha, c.subject) for c in result.notes] == [(B, f"release {B[:7]}")]   # A..B, read on green
    assert fleet.transport.ran[-1][:2] == ("10.0.0.3", f"git log --no-merges --max-count=50 "
                                                      f"--format=%H%x1f%an%x1f%s {A}..{B}")
    done = fleet.events.of(OperationFinished)[-1]
    assert done.ok and done.message == f"promoted green @ {B[:7]}: http://shop.test answers green"


def test_verification_needs_the_release_the_hosts_served_just_before(fleet, deployed):
    deployed.promote("alice")
    verify = [e for e in fleet.events if getattr(e, "name", None) == "verify"][-1]
    assert verify.detail == f"green-prod answered 3x, serving {B[:7]}"


def test_promote_refuses_a_colour_whose_deploy_failed_until_forced(fleet):
    fleet.hosts["green"].page = "Closed"
    p = fleet.pipeline()
    with pytest.raises(SmokeError):
        p.deploy("main", "alice")
    with pytest.raises(NotPromotable) as info:
        p.promote("alice")
    assert info.value.needs == "promote-force" and "failed: 'home page'" in info.value.message
    assert fleet.router.switches == []
    forced = p.promote("alice", force=True)
    assert forced.forced and fleet.router.switches == ["green"]
    assert p.store.last_switch().forced
    assert any(n.text.startswith("FORCED promote of green by alice: the last deploy") for n in fleet.events.of(Notice))
    assert "(FORCED)" in fleet.events.of(OperationFinished)[-1].message


def test_nothing_waives_the_fresh_health_check(fleet, deployed):
    fleet.hosts["green"].healthy = False
    with pytest.raises(HealthError, match="green is not healthy: http://green.test/healthz answered HTTP 503; nothing was switched"):
        deployed.promote("alice", force=True)
    assert fleet.router.switches == [] and deployed.store.last_switch() is None


def test_promote_refuses_nothing_deployed_and_a_changed_colour(fleet):
    p = fleet.pipeline()
    with pytest.raises(NotPromotable, match="nothing has been deployed to green yet"):
        p.promote("alice")
    p.deploy("main", "alice")
    fleet.hosts["green"].checked_out = fleet.hosts["green"].serves = C      # changed by hand
    with pytest.raises(NotPromotable, match=f"green serves {C[:7]} now, not {B[:7]}"):
        p.promote("alice")
    assert fleet.router.switches == []


def test_promote_with_no_live_colour_needs_to_and_to_repairs(fleet, deployed):
    fleet.router.status = "unassigned"
    with pytest.raises(NotPromotable) as info:
        deployed.promote("alice")
    assert info.value.needs == "promote-to" and "the router reports unassigned" in str(info.value)
    repaired = deployed.promote("alice", to="green")
    assert (repaired.from_colour, repaired.to_colour) == (None, "green") and fleet.router.live == "green"


def test_promote_to_the_live_colour_or_no_colour_is_refused(fleet, deployed):
    with pytest.raises(NotPromotable, match="blue is already live"):
        deployed.promote("alice", to="blue")
    with pytest.raises(UsageError, match="--to must be blue or green, not 'red'"):
        deployed.promote("alice", to="red")
    assert fleet.router.switches == []


def test_the_replaced_live_release_is_no_longer_promotable_but_rollback_is(fleet, deployed):
    deployed.promote("alice")
    fleet.refs["main"] = C
    deployed.deploy("main", "alice")                    # to blue now
    deployed.promote("alice")                           # blue live on C
    note = deployed.store.latest_deployment("green").promotable_note
    assert note.startswith("green was live until promote #")


def test_a_roll_forward_to_the_colour_that_was_live_before_is_allowed(fleet, deployed):
    deployed.promote("alice")
    deployed.rollback("alice")
    again = deployed.promote("alice")
    assert (again.to_colour, again.to_sha) == ("green", B)


# -- rollback -----------------------------------------------------------------------------
def test_rollback_goes_back_to_what_was_live_before(fleet, deployed):
    deployed.promote("alice")
    back = deployed.rollback("alice")
    assert (back.kind, back.from_colour, back.to_colour, back.to_sha) == ("rollback", "green", "blue", A)
    assert fleet.router.switches == ["green", "blue"] and back.verified
    assert fleet.events.of(OperationStarted)[-1].sha == A


def test_rollback_with_no_switch_yet_is_refused(fleet):
    with pytest.raises(NotRollbackable, match="no switch has been made yet"):
        fleet.pipeline().rollback("alice")


def test_rollback_after_a_switch_outside_bluegreen_needs_an_explicit_promote(fleet, deployed):
    deployed.promote("alice")
    fleet.router.live = "blue"                          # by hand, in the console
    with pytest.raises(NotRollbackable) as info:
        deployed.rollback("alice")
    assert "the last switch went to green but blue is live now" in info.value.message
    assert info.value.needs == "promote-to"


def test_rollback_refuses_when_a_deploy_replaced_the_old_colour(fleet, deployed):
    deployed.promote("alice")
    fleet.refs["main"] = C
    deployed.deploy("main", "alice")                    # blue gets C
    with pytest.raises(NotRollbackable, match=rf"blue no longer runs {A[:7]}.*main @ {C[:7]}"):
        deployed.rollback("alice")
    assert fleet.router.switches == ["green"]


def test_rollback_refuses_when_the_old_colour_serves_something_else(fleet, deployed):
    deployed.promote("alice")
    fleet.hosts["blue"].serves = fleet.hosts["blue"].checked_out = C     # changed by hand
    with pytest.raises(NotRollbackable, match=f"it serves {C[:7]} now"):
        deployed.rollback("alice")


def test_rollback_health_checks_the_old_colour_first(fleet, deployed):
    deployed.promote("alice")
    fleet.hosts["blue"].healthy = False
    with pytest.raises(HealthError, match="blue is not healthy"):
        deployed.rollback("alice")
    assert fleet.router.live == "green"


# -- verification and putting traffic back --------------------------------------------------
def test_failed_verification_puts_traffic_back_verified(fleet, deployed):
    fleet.http.answer(PUBLIC, lambda: ok("green-elsewhere") if fleet.router.live == "green" else ok("blue-prod"))
    with pytest.raises(VerifyError) as info:
        deployed.promote("alice")
    assert "did not answer 'green-prod' 3 times in a row within 0.3s (last: 'green-elsewhere')" in str(info.value)
    assert str(info.value).endswith("Traffic was put back to blue (verified).")
    assert info.value.traffic == "Traffic was put back to blue (verified)."
    assert fleet.router.switches == ["green", "blue"] and fleet.router.live == "blue"
    assert [n for n in names(fleet.events) if n[1] is None] == [
        ("switch", None, True), ("verify", None, False), ("put back", None, True),
        ("verify put back", None, True)]
    switch = deployed.store.history(1)[0]
    assert (switch.kind, switch.status) == ("promote", "failed")
    assert deployed.store.last_switch() is None                  # no verified switch


def test_a_stale_release_behind_the_right_identity_fails_verification(fleet, deployed):
    fleet.http.answer("http://shop.test/version", ok(A))          # the old release answers
    with pytest.raises(VerifyError, match=rf"\(last: '/version: {A[:7]}, not {B[:7]}'\)"):
        deployed.promote("alice")
    assert fleet.router.live == "blue"


def test_put_back_failing_too_says_where_traffic_is(fleet, deployed):
    fleet.http.answer(PUBLIC, lambda: status(502))
    with pytest.raises(VerifyError) as info:
        deployed.promote("alice")
    assert "Putting traffic back to blue FAILED too" in str(info.value)
    assert info.value.traffic.endswith("Traffic now: blue")


def test_a_router_failure_reads_where_traffic_is_and_records_it(fleet, deployed):
    fleet.router.failures = [ActionTimeout("assign action 7 did not complete within 1s")]
    with pytest.raises(ActionTimeout) as info:
        deployed.promote("alice")
    assert str(info.value) == "assign action 7 did not complete within 1s. Traffic now: blue"
    assert isinstance(info.value.__cause__, ActionTimeout)
    assert deployed.store.history(1)[0].status == "failed" and deployed.store.current_lock() is None


def test_a_router_that_cannot_be_read_is_a_clear_failure(fleet, deployed):
    def broken():
        raise RouterError("API down")
    fleet.router.read = broken
    with pytest.raises(RouterError, match="API down"):
        deployed.promote("alice")
    assert fleet.router.switches == []
