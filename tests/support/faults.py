"""Shared pieces of the e2e fault tests (tests/e2e/test_faults_*.py).

Their sandbox lives on 127.0.0.51-53 (``SANDBOX``; never the addresses of the ``cycle``
fixture, so these files can run beside other test runs) and is started once per test
module by the ``fault_sandbox`` fixture (tests/e2e/conftest.py). ``PipelineWorld`` is one
test's view of it, driving pipelines and `bluegreen` processes: its own state database,
the reserved IP back on blue, no fault knobs left from the test before (the ``world``
fixture). ``assert_settled`` is the check every fault test ends with: the live colour
serves, the router agrees, nothing is left running, the lock is free. ``run_cli``,
``start_cli``, ``wait_for_file`` and ``kill`` run and stop `bluegreen` processes.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploy_core import config as config_mod
from deploy_core.pipeline import Pipeline
from sandbox import DROPLETS, RESERVED_IP, Sandbox
from .fakes import Recorder

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = {"blue": ("127.0.0.52", 8000), "green": ("127.0.0.53", 8000),
           "public": ("127.0.0.51", 8080)}
TOKEN = "dop_v1_" + "5ec7e7" * 10          # the stand-in's token: shaped like a real one


class PipelineWorld:
    """One test on the module's sandbox: its own state database and pipelines."""

    def __init__(self, sb: Sandbox, state_dir: Path, database_url: str | None = None) -> None:
        self.sb = sb
        self.dir = state_dir
        self.database_url = database_url or f"sqlite:///{state_dir / 'state.db'}"
        self.env = {**os.environ, **sb.env, "DATABASE_URL": self.database_url}
        self.config = config_mod.load(sb.config_path, self.env)
        self.events = Recorder()
        self._pipelines: list[Pipeline] = []
        self.reset()
        self.p = self.pipeline()

    def reset(self) -> None:
        """The reserved IP on blue with nothing pending, droplets where they belong, no faults."""
        self.sb.do.reset(assigned={RESERVED_IP: DROPLETS["blue"]},
                         targets={d: self.sb.hosts[c].address for c, d in DROPLETS.items()})

    def config_with(self, env: dict[str, str] | None = None, *, green_url: str | None = None,
                    **sections) -> config_mod.Config:
        """This world's configuration with ``deploy={"lease_s": 2}`` style overrides;
        ``green_url`` puts another server in front as green's host URL."""
        cfg = config_mod.load(self.sb.config_path, {**self.env, **(env or {})})
        for name, changes in sections.items():
            cfg = dataclasses.replace(cfg, **{name: dataclasses.replace(getattr(cfg, name), **changes)})
        if green_url is not None:
            green = cfg.colours["green"]
            hosts = tuple(dataclasses.replace(h, url=green_url) for h in green.hosts)
            cfg = dataclasses.replace(cfg, colours={**cfg.colours,
                                                    "green": dataclasses.replace(green, hosts=hosts)})
        return cfg

    def pipeline(self, *, env: dict[str, str] | None = None, listener=None,
                 green_url: str | None = None, **sections) -> Pipeline:
        """A pipeline on this world's state (see ``config_with`` for the overrides)."""
        env = {**self.env, **(env or {})}
        cfg = self.config_with(env, green_url=green_url, **sections)
        p = Pipeline.from_config(cfg, env, listener=listener if listener is not None else self.events)
        self._pipelines.append(p)
        return p

    def live(self) -> str:
        return self.sb.live_identity()

    def cli_env(self, **extra: str) -> dict[str, str]:
        """The environment of a `bluegreen` process on this world."""
        return {**self.env, "BLUEGREEN_ACTOR": "tester", **extra}

    def close(self) -> None:
        for p in self._pipelines:
            p.close()


def assert_settled(p: Pipeline, live: str) -> None:
    """After a fault: ``live`` serves through the public URL and the router says so,
    no deployment or switch is left running, and the operation lock is free."""
    colour, answer = p.public_colour()
    assert answer.ok and colour == live, f"public URL answers {answer.text!r} ({answer.detail})"
    assert p.router.read().live == live
    assert p.store.current_lock() is None
    assert p.store.running_deployment() is None
    assert [h for h in p.store.history(50) if h.status == "running"] == []


# -- `bluegreen` processes -------------------------------------------------------------------
def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "deploy_core.cli", *args]


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cli_argv(*args), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def start_cli(env: dict[str, str], out_dir: Path, *args: str) -> subprocess.Popen:
    """Start `bluegreen ARGS` with its output in files (``out_dir/stdout``, ``stderr``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "stdout", "wb") as out, open(out_dir / "stderr", "wb") as err:
        return subprocess.Popen(cli_argv(*args), cwd=ROOT, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)


def wait_for_file(path: Path, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    """Wait until ``path`` exists; fail at once if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process exited {proc.returncode} before {path.name} appeared")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear within {timeout:g}s")
        time.sleep(0.01)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` (if still running) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
