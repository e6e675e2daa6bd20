"""The e2e tier's sandboxes, each on addresses no other test file uses: ``cycle``, a fresh
sandbox per test (127.0.0.41-43); ``fault_sandbox``, one per fault test module
(127.0.0.51-53, tests/support/faults.py), and ``world``, a test's own state on it."""
from __future__ import annotations

import dataclasses
import os
from contextlib import closing
from typing import Iterator

import pytest

from deploy_core import config as config_mod
from deploy_core.pipeline import Pipeline
from sandbox import Sandbox
from tests.support.fakes import Recorder
from tests.support.faults import SANDBOX, TOKEN, PipelineWorld


class Cycle:
    """A started sandbox plus a pipeline over it; ``pipeline(**overrides)`` builds another."""

    def __init__(self, sb: Sandbox):
        self.sb = sb
        self.env = {**os.environ, **sb.env}
        self.config = config_mod.load(sb.config_path, self.env)
        self.events = Recorder()
        self._pipelines: list[Pipeline] = []
        self.p = self.pipeline()

    def pipeline(self, **sections) -> Pipeline:
        cfg = self.config
        for name, changes in sections.items():
            cfg = dataclasses.replace(cfg, **{name: dataclasses.replace(getattr(cfg, name), **changes)})
        p = Pipeline.from_config(cfg, self.env, listener=self.events)
        self._pipelines.append(p)
        return p

    def live(self) -> str:
        return self.sb.live_identity()

    def close(self):
        for p in self._pipelines:
            p.close()


@pytest.fixture
def cycle(tmp_path):
    sb = Sandbox(tmp_path / "sb", blue=("127.0.0.42", 8000), green=("127.0.0.43", 8000),
                 public=("127.0.0.41", 8080), action_delay_s=0.1)
    sb.start()
    c = Cycle(sb)
    try:
        yield c
    finally:
        c.close()
        sb.stop()


@pytest.fixture(scope="module")
def fault_sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    """One sandbox for a whole test module; ``world`` resets it before each test."""
    with Sandbox(tmp_path_factory.mktemp("faults") / "sb", blue=SANDBOX["blue"],
                 green=SANDBOX["green"], public=SANDBOX["public"], token=TOKEN,
                 action_delay_s=0.05) as sb:
        yield sb


@pytest.fixture
def world(fault_sandbox, tmp_path) -> Iterator[PipelineWorld]:
    with closing(PipelineWorld(fault_sandbox, tmp_path)) as w:
        yield w
