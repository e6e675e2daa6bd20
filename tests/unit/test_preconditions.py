"""Promote eligibility (rules.may_promote) over what a real SQLite store records (no hosts
needed); the rules alone are in test_rules.py, the runbook on fakes in test_pipeline.py."""
from __future__ import annotations

import tomllib

import pytest

from deploy_core import config, rules
from deploy_core.pipeline import Pipeline
from deploy_core.store import Store
from tests.support.configs import ENV, GOOD

A, B = "a" * 40, "b" * 40


@pytest.fixture
def p(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    pipeline = Pipeline(config.parse(tomllib.loads(GOOD), ENV), store=store, transport=None, router=None)
    yield pipeline
    store.close()


def deployed(store, colour, sha, status="succeeded", smoke_ok=True, promotable=True):
    dep = store.create_deployment(colour, "main", "alice", None)
    store.set_deployment_sha(dep, sha)
    store.set_colour(colour, sha, dep)
    store.finish_deployment(dep, status, smoke_ok=smoke_ok, promotable=promotable)
    return dep


def refusal(p, colour: str) -> str | None:
    """Why ``colour`` may not be promoted, from what the store records; None when it may."""
    decision = rules.may_promote(colour, p.store.latest_deployment(colour), p.store.colour_state(colour))
    return None if decision.ok else decision.reason


def test_nothing_deployed(p):
    assert "nothing has been deployed to green" in refusal(p, "green")


def test_passed_deploy_is_promotable(p):
    deployed(p.store, "green", A)
    assert refusal(p, "green") is None


def test_running_failed_discarded_and_smoke_failed_are_not(p):
    dep = p.store.create_deployment("green", "main", "alice", None)
    assert "still running" in refusal(p, "green")
    p.store.finish_deployment(dep, "failed", error="step 2 exited 1")
    assert "failed: step 2 exited 1" in refusal(p, "green")
    dep = deployed(p.store, "green", A)
    p.store.set_promotable(dep, False, note="discarded by bob")
    assert "discarded by bob" in refusal(p, "green")
    deployed(p.store, "green", B, status="failed", smoke_ok=False, promotable=False)
    assert "failed" in refusal(p, "green")


def test_colour_changed_since_the_deploy(p):
    deployed(p.store, "green", A)
    p.store.set_colour("green", B, None)       # something else ran there since
    assert "green has changed since" in refusal(p, "green")
