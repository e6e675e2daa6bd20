"""The runbook of a deploy: put REF on the idle colour and prove it there.

Read top to bottom it is the runbook people follow by hand: find the idle colour, note
what it ran, fetch and resolve REF, run the steps on every idle host, wait until each
serves the new release and is healthy, smoke-test it — then it may be promoted.
"""
from __future__ import annotations

import threading
import time

from . import rules
from .config import other
from .errors import BluegreenError, Cancelled, SmokeError
from .events import Callback, Notice, OperationStarted
from .hosts import HostRunner
from .live import live_colour
from .refs import short
from .operation import Finish, Operation
from .parts import Parts
from .results import DeployResult, Replaced
from .running import NO_RELEASE_PATH, read_colour
from .store.errors import LockLost

CANCEL_CHECK_S = 0.5         # how often the hosts' threads may ask the database about a cancel


class Deploy:
    def __init__(self, parts: Parts, emit: Callback, cancel: threading.Event) -> None:
        self.parts = parts
        self.emit = emit
        self.cancel = cancel

    def run(self, ref: str, actor: str) -> DeployResult:
        op = Operation(self.parts, self.emit, "deploy", actor)
        return op.run(f"deploy {ref}", lambda op: self._deploy(op, ref, actor), self._finished)

    def _deploy(self, op: Operation, ref: str, actor: str) -> DeployResult:
        cfg, store = self.parts.config, self.parts.store
        live, _ = live_colour(cfg, self.parts.router, self.parts.http, self.emit)
        colour = op.colour = other(live or "")
        replaced = self._replaced(colour)
        dep_id = store.create_deployment(colour, ref, actor, replaced.sha)
        op.attach(deployment_id=dep_id)
        op.on_failure(lambda error: _record_failure(store, dep_id, error))
        target = rules.replaces_rollback_target(colour, replaced.sha, store.last_switch())
        self.emit(OperationStarted(kind="deploy", colour=colour, actor=actor, ref=ref,
                                   replaces=replaced.sha, replaces_rollback_target=target,
                                   replaces_foreign=replaced.foreign,
                                   replaces_proven=replaced.proven, op_id=dep_id))
        if target:
            self.emit(Notice(f"{colour} runs {short(replaced.sha)}, the release that was live "
                             f"before: this deploy replaces the rollback target",
                             level="warning", op_id=dep_id))
        if not cfg.app.release_path:
            self.emit(Notice(NO_RELEASE_PATH, level="warning", op_id=dep_id))

        runner = HostRunner(cfg, self.parts.transport, store, self.parts.http, dep_id=dep_id,
                            colour=colour, ref=ref, emit=self.emit,
                            cancelled=self._cancelled(dep_id, op.lease))
        hosts = cfg.colours[colour].hosts
        runner.fetch(hosts)
        sha = op.sha = runner.resolve(hosts[0])
        store.set_deployment_sha(dep_id, sha)
        store.set_colour(colour, None, dep_id)
        self.parts.pause("deploy:steps")
        runner.steps(hosts, sha)
        self.parts.pause("deploy:health")
        runner.wait_served(hosts, sha)
        store.set_colour(colour, sha, dep_id)
        self.parts.pause("deploy:smoke")
        failures = runner.smoke(hosts)
        if failures:
            store.finish_deployment(dep_id, "failed", error=failures, smoke_ok=False,
                                    promotable=False)
            raise SmokeError(f"smoke test failed on {colour}: {failures}. {colour} runs "
                             f"{short(sha)} but is not promotable", needs="promote-force")
        store.finish_deployment(dep_id, "succeeded", smoke_ok=True, promotable=True)
        return DeployResult(dep_id, colour, ref, sha, replaced.sha, True,
                            tuple(h.url for h in hosts), target,
                            replaced_foreign=replaced.foreign,
                            release_proven=bool(cfg.app.release_path),
                            smoke_checks=len(cfg.smoke))

    def _replaced(self, colour: str) -> Replaced:
        """What the idle colour runs before a deploy replaces it: read from its hosts,
        else the release bluegreen last deployed there."""
        running = read_colour(self.parts.config, self.parts.transport, self.parts.http, colour)
        state = self.parts.store.colour_state(colour)
        stored = state.sha if state else None
        if running.sha is None:
            return Replaced(stored, False, False, running.detail)
        return Replaced(running.sha, not running.matches(stored), running.proven, running.detail)

    def _finished(self, result: DeployResult) -> Finish:
        return Finish(f"{result.ref} @ {short(result.sha)} is on {result.colour}: {result.evidence}",
                      result.colour, result.sha, result.deployment_id)

    def _cancelled(self, dep_id: int, lease):
        """A check for cancellation that asks the database at most every CANCEL_CHECK_S
        seconds, however many host threads call it."""
        asked = [float("-inf"), False]
        guard = threading.Lock()

        def check(fresh: bool = False) -> bool:
            if lease.lost:
                raise LockLost(f"deploy #{dep_id} lost its operation lock (its lease expired): "
                               f"stopping before the next step")
            if self.cancel.is_set():
                return True
            with guard:
                if fresh or time.monotonic() - asked[0] >= CANCEL_CHECK_S:
                    asked[:] = [time.monotonic(), self.parts.store.cancel_requested(dep_id)]
                return bool(asked[1])
        return check


def _record_failure(store, dep_id: int, error: BluegreenError) -> None:
    """A failed or cancelled deploy is not promotable (a failed smoke test records itself)."""
    if isinstance(error, SmokeError):
        return
    status = "cancelled" if isinstance(error, Cancelled) else "failed"
    store.finish_deployment(dep_id, status, error=error.message, promotable=False)
