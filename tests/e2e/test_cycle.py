"""The whole blue-green cycle and its refusals on the sandbox: real gunicorn, git,
the real digitalocean router (pydo) against the DigitalOcean stand-in."""
from __future__ import annotations

import dataclasses

import pytest

from deploy_core.errors import (ActionTimeout, HealthError, LockHeld, NotPromotable, NotRollbackable,
                                RefError, RouterError, RouterMismatch, SmokeError, StepFailed,
                                UnknownRef, VerifyError)
from deploy_core.events import Notice, OperationFinished, OperationStarted
from sandbox import DROPLETS, RESERVED_IP, repo


def assert_free(p):
    assert p.store.current_lock() is None


def test_full_cycle_deploy_promote_notes_rollback(cycle):
    p = cycle.p
    status = p.status()
    assert (status.live, status.idle, status.router) == ("blue", "green", "ok")
    assert status.to_json()["colours"]["green"]["healthy"] is True

    newest = cycle.sb.add_commit("Shop v4: wishlist", {"VERSION": "1.3.0\n"})
    result = p.deploy("main", "alice")
    assert (result.colour, result.sha, result.smoke_ok) == ("green", newest, True)
    assert cycle.live() == "blue-sandbox"            # the live colour is untouched by deploy
    assert p.status().colours["green"].promotable

    promoted = p.promote("alice")
    assert (promoted.from_colour, promoted.to_colour, promoted.verified) == ("blue", "green", True)
    assert cycle.live() == "green-sandbox"
    assert [c.subject for c in promoted.notes] == [
        "Shop v4: wishlist", "Shop v3: gift cards", "Shop v2: free shipping banner"]
    assert promoted.notes[0].author == "Ada Lovelace"

    back = p.rollback("alice")
    assert (back.from_colour, back.to_colour) == ("green", "blue")
    assert cycle.live() == "blue-sandbox"
    final = p.status().to_json()
    assert final["live"] == "blue" and final["colours"]["green"]["sha"] == newest
    assert final["lock"] is None
    kinds = [(h.kind, h.status) for h in p.history()]
    assert kinds[:3] == [("rollback", "succeeded"), ("promote", "succeeded"), ("deploy", "succeeded")]
    # a roll-forward to the colour that was live before is allowed
    assert p.promote("alice").to_colour == "green"


def test_deploy_names_the_release_it_replaces(cycle):
    p = cycle.p
    first = p.deploy("main", "alice")
    p.promote("alice")
    cycle.sb.add_commit("v5", {"VERSION": "1.5.0\n"})
    cycle.events.clear()
    p.deploy("main", "alice")                          # to blue now
    started = cycle.events.of(OperationStarted)[0]
    assert started.colour == "blue"
    # blue runs a release bluegreen never deployed: read from its /version, said so
    assert started.replaces == repo.commits(cycle.sb.origin)[0] and started.replaces_foreign
    assert started.replaces_proven and started.replaces_rollback_target
    p.promote("alice")
    cycle.events.clear()
    p.deploy("v1.0", "alice")                          # to green: replaces the rollback target
    started = cycle.events.of(OperationStarted)[0]
    assert started.colour == "green" and started.replaces == first.sha
    assert started.replaces_rollback_target
    assert any("rollback target" in n.text for n in cycle.events.of(Notice))
    cycle.events.clear()
    second = p.deploy("main", "alice")                 # green again: replaces v1.0, never live
    started = cycle.events.of(OperationStarted)[0]
    assert started.replaces != first.sha and not started.replaces_rollback_target
    assert not second.replaced_rollback_target
    assert not any("rollback target" in n.text for n in cycle.events.of(Notice))


@pytest.mark.parametrize("ref", ["main; rm -rf /", "$(id)", "-x", "a..b", "x" * 500, ""])
def test_bad_ref_refused_before_anything(cycle, ref):
    with pytest.raises(RefError):
        cycle.p.deploy(ref, "alice")
    assert cycle.p.history() == []
    assert_free(cycle.p)


def test_unknown_ref_fails_cleanly(cycle):
    with pytest.raises(UnknownRef, match="no branch, tag or commit named 'nope'"):
        cycle.p.deploy("nope", "alice")
    dep = cycle.p.store.latest_deployment("green")
    assert dep.status == "failed"
    assert cycle.live() == "blue-sandbox"
    assert_free(cycle.p)


def test_tag_and_short_sha_resolve(cycle):
    from sandbox.repo import commits
    first = commits(cycle.sb.origin)[0]
    assert cycle.p.deploy("v1.0", "alice").sha == first
    assert cycle.p.deploy(first[:8], "alice").sha == first


def test_failing_step_records_output_and_releases_lock(cycle):
    p = cycle.pipeline(deploy={"steps": cycle.config.deploy.steps[:1] + ("echo boom >&2; exit 3",)})
    with pytest.raises(StepFailed) as info:
        p.deploy("main", "alice")
    assert info.value.exit_status == 3
    assert "[stderr] boom" in info.value.tail
    dep = p.store.latest_deployment("green")
    assert dep.status == "failed"
    _, steps = p.log(dep.id)
    assert steps[-1].exit_status == 3 and "boom" in steps[-1].output
    assert p.status().colours["green"].sha is None     # the colour is in an unknown state now
    assert cycle.live() == "blue-sandbox"
    assert_free(p)
    with pytest.raises(NotPromotable):
        p.promote("alice")


def test_health_that_never_passes(cycle):
    p = cycle.pipeline(deploy={"health_timeout_s": 1.0})
    cycle.sb.add_commit("broken: unhealthy", {"UNHEALTHY": "yes\n"})
    with pytest.raises(HealthError, match="never answered 2xx"):
        p.deploy("main", "alice")
    assert p.store.latest_deployment("green").status == "failed"
    assert cycle.live() == "blue-sandbox"
    assert_free(p)


def test_smoke_failure_refuses_promote_but_force_works(cycle):
    check = dataclasses.replace(cycle.config.smoke[0], contains="version 9.9")
    bad = cycle.pipeline()
    bad.config = dataclasses.replace(bad.config, smoke=(check,))
    with pytest.raises(SmokeError, match="expected the page to contain 'version 9.9'"):
        bad.deploy("main", "alice")
    dep = bad.store.latest_deployment("green")
    assert (dep.status, dep.smoke_ok, dep.promotable) == ("failed", False, False)
    with pytest.raises(NotPromotable, match="--force"):
        bad.promote("alice")
    assert cycle.live() == "blue-sandbox"
    cycle.events.clear()
    result = bad.promote("alice", force=True)
    assert result.forced and cycle.live() == "green-sandbox"
    assert any("FORCED" in n.text for n in cycle.events.of(Notice))
    assert "FORCED" in cycle.events.of(OperationFinished)[-1].message


def test_promote_with_nothing_new_is_refused(cycle):
    with pytest.raises(NotPromotable, match="nothing has been deployed to green"):
        cycle.p.promote("alice")
    cycle.p.deploy("main", "alice")
    cycle.p.promote("alice")
    with pytest.raises(NotPromotable, match="nothing has been deployed to blue"):
        cycle.p.promote("alice")
    cycle.p.deploy("v1.0", "alice")
    cycle.p.promote("alice")                            # blue is live, green idle and old
    with pytest.raises(NotPromotable, match="green was live until promote"):
        cycle.p.promote("alice")
    assert cycle.live() == "blue-sandbox"
    assert_free(cycle.p)


def test_rollback_refuses_when_previous_colour_was_replaced(cycle):
    p = cycle.p
    with pytest.raises(NotRollbackable, match="nothing to roll back to"):
        p.rollback("alice")
    p.deploy("main", "alice")
    p.promote("alice")
    p.deploy("v1.0", "alice")                           # overwrites blue, the rollback target
    with pytest.raises(NotRollbackable, match="blue no longer runs"):
        p.rollback("alice")
    assert cycle.live() == "green-sandbox"


def test_hold_blocks_every_operation_until_unlock(cycle):
    p = cycle.p
    p.lock("bob", "db migration running")
    for op in (lambda: p.deploy("main", "alice"), lambda: p.promote("alice"), lambda: p.rollback("alice")):
        with pytest.raises(LockHeld) as info:
            op()
        assert info.value.lock.holder == "bob" and info.value.lock.reason == "db migration running"
    assert p.unlock("alice").holder == "bob"
    assert p.unlock("alice") is None
    assert p.deploy("main", "alice").colour == "green"


def test_hung_digitalocean_action_leaves_live_colour(cycle):
    p = cycle.pipeline(router={"action_timeout_s": 0.8, "action_interval_s": 0.1})
    p.deploy("main", "alice")
    cycle.sb.do.action_stuck = True
    with pytest.raises(ActionTimeout):
        p.promote("alice")
    assert cycle.live() == "blue-sandbox"
    sw = p.store.history(1)[0]
    assert (sw.kind, sw.status) == ("promote", "failed")
    assert_free(p)


def test_digitalocean_401_is_said_plainly(cycle):
    p = cycle.pipeline()
    p.router = type(p.router)(p.config, {**cycle.env, "DIGITALOCEAN_TOKEN": "wrong-token"})
    with pytest.raises(RouterError) as info:
        p.deploy("main", "alice")
    assert "401" in str(info.value) and "wrong-token" not in str(info.value)
    assert_free(p)


def test_verification_failure_puts_traffic_back(cycle):
    p = cycle.p
    p.deploy("main", "alice")
    green = p.config.colours["green"]
    cfg = dataclasses.replace(p.config, colours={**p.config.colours,
                                                 "green": dataclasses.replace(green, identity="green-expected")},
                              promote=dataclasses.replace(p.config.promote, verify_timeout_s=1.0))
    from deploy_core.pipeline import Pipeline
    q = Pipeline(cfg, store=p.store, transport=p.transport, router=type(p.router)(cfg, cycle.env))
    with pytest.raises(VerifyError, match=r"put back to blue \(verified\)"):
        q.promote("alice")
    assert cycle.live() == "blue-sandbox"
    assert p.store.history(1)[0].status == "failed"
    assert_free(p)


def test_router_and_identity_disagreeing_stops_everything(cycle):
    cfg = cycle.config
    blue = dataclasses.replace(cfg.colours["blue"], identity="blue-elsewhere")
    cfg = dataclasses.replace(cfg, colours={**cfg.colours, "blue": blue})
    from deploy_core.pipeline import Pipeline
    p = Pipeline.from_config(cfg, cycle.env)
    try:
        with pytest.raises(RouterMismatch, match="nothing was changed"):
            p.deploy("main", "alice")
        assert p.status().router == "mismatch"
        assert p.history() == []
    finally:
        p.close()


def test_unassigned_reserved_ip_is_reported_and_repaired(cycle):
    p = cycle.p
    p.deploy("main", "alice")
    cycle.sb.do.assign_now(RESERVED_IP, None)
    status = p.status()
    assert (status.live, status.router) == (None, "unassigned")
    with pytest.raises(NotPromotable, match="--to"):
        p.promote("alice")
    repaired = p.promote("alice", to="green")
    assert repaired.from_colour is None and cycle.live() == "green-sandbox"
    cycle.sb.do.add_droplet(999, "intruder", cycle.sb.hosts["blue"].address)
    cycle.sb.do.assign_now(RESERVED_IP, 999)
    assert p.status().router == "foreign"
    assert DROPLETS["green"] == 222222


def test_switch_outside_bluegreen_is_observed(cycle):
    p = cycle.p
    assert p.observe_router() is None
    cycle.sb.do.assign_now(RESERVED_IP, DROPLETS["green"])
    change = p.observe_router()
    assert (change.from_colour, change.to_colour) == ("blue", "green")
    assert p.observe_router() is None
