"""Promote eligibility on a real SQLite store (no hosts needed). Rollback eligibility
needs a router and hosts: tests/e2e/test_cycle.py covers it on the sandbox."""
from __future__ import annotations

import tomllib

import pytest

from deploy_core import config
from deploy_core.pipeline import Pipeline
from deploy_core.store import Store
from tests.unit.test_config import ENV, GOOD

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


def test_nothing_deployed(p):
    assert "nothing has been deployed to green" in p._promote_refusal("green")


def test_passed_deploy_is_promotable(p):
    deployed(p.store, "green", A)
    assert p._promote_refusal("green") is None


def test_running_failed_discarded_and_smoke_failed_are_not(p):
    dep = p.store.create_deployment("green", "main", "alice", None)
    assert "still running" in p._promote_refusal("green")
    p.store.finish_deployment(dep, "failed", error="step 2 exited 1")
    assert "failed: step 2 exited 1" in p._promote_refusal("green")
    dep = deployed(p.store, "green", A)
    p.store.set_promotable(dep, False, note="discarded by bob")
    assert "discarded by bob" in p._promote_refusal("green")
    deployed(p.store, "green", B, status="failed", smoke_ok=False, promotable=False)
    assert "failed" in p._promote_refusal("green")


def test_colour_changed_since_the_deploy(p):
    deployed(p.store, "green", A)
    p.store.set_colour("green", B, None)       # something else ran there since
    assert "green has changed since" in p._promote_refusal("green")
