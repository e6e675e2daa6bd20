"""What every deploy, promote and rollback does around its runbook, written once.

    op = Operation(parts, emit, "deploy", actor)
    result = op.run(f"deploy {ref}", body, finish)

``run`` takes the operation lock (a lease renewed by a thread; LockHeld when taken),
announces what a dead owner left behind, times the operation, and on failure calls the
recorders the runbook registered with ``on_failure`` while the lock is still held (so no
other process can take the failure for a dead owner's work), releases the lock on every
path, and ends with one ``OperationFinished``. Ctrl-C becomes ``Cancelled``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from .errors import BluegreenError, Cancelled
from .events import Callback, Commit, Notice, OperationFinished
from .parts import Parts

log = logging.getLogger("bluegreen.operation")
T = TypeVar("T")


@dataclass(frozen=True)
class Finish:
    """How a successful operation is told."""
    message: str
    colour: str
    sha: str | None = None
    op_id: int | None = None
    notes: tuple[Commit, ...] = ()


class Operation:
    def __init__(self, parts: Parts, emit: Callback, kind: str, actor: str) -> None:
        self.parts = parts
        self.emit = emit
        self.kind = kind
        self.actor = actor
        self.colour = ""                 # the runbook fills these in as it learns them
        self.sha: str | None = None
        self.op_id: int | None = None
        self.lease: Any = None
        self._recorders: list[Callable[[BluegreenError], None]] = []

    def attach(self, *, deployment_id: int | None = None, switch_id: int | None = None) -> None:
        """Name the deployment or switch this operation is, so recovery can close it."""
        self.op_id = deployment_id or switch_id
        self.lease.attach(deployment_id=deployment_id, switch_id=switch_id)

    def on_failure(self, record: Callable[[BluegreenError], None]) -> None:
        """Call ``record(error)`` if the operation fails, while its lock is still held."""
        self._recorders.append(record)

    def run(self, reason: str, body: Callable[[Operation], T],
            finish: Callable[[T], Finish]) -> T:
        started = time.monotonic()
        try:
            result = self._locked(reason, body)
        except BluegreenError as error:
            self.emit(OperationFinished(
                kind=self.kind, ok=False, colour=self.colour, sha=self.sha, op_id=self.op_id,
                elapsed=time.monotonic() - started, message=str(error), error=str(error),
                error_type=type(error).__name__))
            raise
        done = finish(result)
        self.emit(OperationFinished(kind=self.kind, ok=True, colour=done.colour, sha=done.sha,
                                    op_id=done.op_id, elapsed=time.monotonic() - started,
                                    message=done.message, notes=done.notes))
        return result

    def _locked(self, reason: str, body: Callable[[Operation], T]) -> T:
        store, config = self.parts.store, self.parts.config
        try:
            with store.acquire_operation(self.kind, self.actor, config.deploy.lease_s,
                                         reason=reason) as lease:
                self.lease = lease
                for rec in lease.recovered:
                    self.emit(Notice(interrupted_text(rec), level="warning"))
                lease.start_renewing()
                self.parts.pause(f"{self.kind}:locked")
                try:
                    return body(self)
                except BluegreenError as error:
                    self._record(error)
                    raise
                except KeyboardInterrupt:
                    self._record(Cancelled("cancelled by Ctrl-C"))
                    raise
        except KeyboardInterrupt:
            raise Cancelled("cancelled by Ctrl-C") from None

    def _record(self, error: BluegreenError) -> None:
        for record in self._recorders:
            try:
                record(error)
            except Exception:  # the original error matters more; recovery marks it later
                log.warning("could not record %s as failed", self.kind, exc_info=True)


def interrupted_text(rec: Any) -> str:
    what = f"{rec.kind} #{rec.id}" if rec.id is not None else f"a {rec.kind}"
    where = f" on {rec.colour}" if getattr(rec, "colour", None) else ""
    return (f"{what}{where} by {rec.holder} was interrupted (its process died): "
            f"marked interrupted, its lock released")
