"""The rules of DESIGN.md as pure functions (deploy_core/rules.py): state in, a decision
with its reason and the waiver that would clear it out. Microseconds each."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from deploy_core import rules
from deploy_core.running import Running
from deploy_core.store.records import ColourState, Deployment, Switch

A, B, C = "a" * 40, "b" * 40, "c" * 40
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def deployment(id=1, colour="green", sha=B, status="succeeded", promotable=True, note=None,
               error=None, started=T0) -> Deployment:
    return Deployment(id=id, colour=colour, ref="main", sha=sha, actor="alice", status=status,
                      replaces_sha=A, started_at=started, finished_at=started, error=error,
                      smoke_ok=status == "succeeded", promotable=promotable, promotable_note=note,
                      cancel_requested_by=None)


def colour_row(sha=B, dep=1, colour="green") -> ColourState:
    return ColourState(colour=colour, sha=sha, deployment_id=dep, updated_at=T0)


def switch(frm="blue", to="green", from_sha=A, to_sha=B, finished=T0) -> Switch:
    return Switch(id=1, kind="promote", from_colour=frm, to_colour=to, from_sha=from_sha,
                  to_sha=to_sha, actor="alice", forced=False, status="succeeded", verified=True,
                  error=None, started_at=finished, finished_at=finished)


# -- promote ------------------------------------------------------------------------------
def test_a_passed_unchanged_deploy_may_be_promoted():
    assert rules.may_promote("green", deployment(), colour_row()) == rules.ALLOW
    assert rules.may_promote("green", deployment(), colour_row(), Running(B, True)).ok
    assert rules.may_promote("green", deployment(), colour_row(), Running(B[:7], True)).ok
    assert rules.may_promote("green", deployment(), colour_row(), Running(None)).ok     # unknown: store decides


@pytest.mark.parametrize("latest, row, running, reason", [
    (None, None, None, "nothing has been deployed to green yet: deploy a release first"),
    (deployment(status="running"), colour_row(), None, "the last deploy to green (#1, main @ bbbbbbb) is still running"),
    (deployment(status="failed", error="step 2 exited 1"), colour_row(), None,
     "the last deploy to green (#1, main @ bbbbbbb) failed: step 2 exited 1"),
    (deployment(status="interrupted"), colour_row(), None, "the last deploy to green (#1, main @ bbbbbbb) interrupted"),
    (deployment(promotable=False, note="discarded by bob"), colour_row(), None,
     "the last deploy to green (#1, main @ bbbbbbb) is not promotable: discarded by bob"),
    (deployment(), colour_row(sha=C), None, "green has changed since the last deploy to green (#1, main @ bbbbbbb)"),
    (deployment(), colour_row(dep=2), None, "green has changed since the last deploy to green (#1, main @ bbbbbbb)"),
    (deployment(), None, None, "green has changed since the last deploy to green (#1, main @ bbbbbbb)"),
    (deployment(), colour_row(), Running(C, True), "green serves ccccccc now, not bbbbbbb: it has changed since"),
    (deployment(), colour_row(), Running(C, False), "green has checked out ccccccc now, not bbbbbbb"),
])
def test_promote_refusals_say_why_and_force_waives_them(latest, row, running, reason):
    decision = rules.may_promote("green", latest, row, running)
    assert not decision.ok and decision.reason.startswith(reason)
    assert (decision.waiver, decision.needs) == ("force", "promote-force")


@pytest.mark.parametrize("live, to, target, ok, needs", [
    ("blue", None, "green", True, None), ("green", None, "blue", True, None),
    ("blue", "green", "green", True, None), (None, "green", "green", True, None),
    (None, None, None, False, "promote-to"), ("blue", "blue", "blue", False, None),
    ("blue", "red", None, False, None),
])
def test_where_a_promote_goes(live, to, target, ok, needs):
    got, decision = rules.promote_target(live, to)
    assert (got, decision.ok, decision.needs, decision.waiver) == (target, ok, needs, None)


# -- rollback -----------------------------------------------------------------------------
def test_rollback_to_the_colour_that_still_runs_its_release():
    assert rules.may_rollback("green", switch(), None, A).ok
    assert rules.may_rollback("green", switch(), deployment(colour="blue", started=T0 - timedelta(1)), A).ok
    assert rules.may_rollback("green", switch(from_sha=None), None, C).ok     # nothing to compare


@pytest.mark.parametrize("live, last, latest, now, reason", [
    ("green", None, None, A, "no switch has been made yet: there is nothing to roll back to"),
    ("green", switch(frm=None), None, A, "no switch has been made yet"),
    ("blue", switch(), None, A, "the last switch went to green but blue is live now"),
    ("green", switch(), deployment(colour="blue", sha=C, started=T0 + timedelta(seconds=1)), C,
     "blue no longer runs aaaaaaa, the release that was live before: main @ ccccccc (deploy #1, succeeded)"),
    ("green", switch(), None, C, "blue no longer runs aaaaaaa, the release that was live before: it runs ccccccc"),
])
def test_rollback_refusals_say_why_and_nothing_waives_them(live, last, latest, now, reason):
    decision = rules.may_rollback(live, last, latest, now)
    assert not decision.ok and decision.reason.startswith(reason) and decision.waiver is None


def test_a_rollback_refused_after_a_hand_switch_points_to_promote_to():
    assert rules.may_rollback("blue", switch(), None, A).needs == "promote-to"


def test_a_proven_release_is_said_to_be_served():
    assert "it serves ccccccc" in rules.may_rollback("green", switch(), None, C, now_proven=True).reason


# -- what a deploy replaces -----------------------------------------------------------------
def test_a_deploy_replaces_the_rollback_target_only_when_a_rollback_would_go_there():
    last = switch()                                       # blue (A) -> green
    assert rules.replaces_rollback_target("blue", A, last)
    assert not rules.replaces_rollback_target("blue", C, last)      # blue runs something else
    assert not rules.replaces_rollback_target("green", B, last)     # the live colour
    assert not rules.replaces_rollback_target("blue", None, last)
    assert not rules.replaces_rollback_target("blue", A, None)
