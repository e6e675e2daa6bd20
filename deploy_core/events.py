"""Typed events the pipeline emits while it works.

The CLI printer and the Slack renderer are two listeners of the same stream;
the library itself never prints. A listener is any callable taking an Event.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("bluegreen.events")


@dataclass(frozen=True)
class Event:
    op_id: int | None = field(default=None, kw_only=True)
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class OperationStarted(Event):
    """kind: deploy | promote | rollback. ``replaces`` is the sha the idle colour ran
    before this deploy; ``replaces_rollback_target`` says it was live before the last
    switch, so a rollback would have gone to it."""
    kind: str
    colour: str
    actor: str
    ref: str | None = None
    sha: str | None = None
    replaces: str | None = None
    replaces_rollback_target: bool = False
    replaces_foreign: bool = False       # bluegreen did not deploy what it replaces
    replaces_proven: bool = True         # read from release_path, not only checked out
    from_colour: str | None = None
    forced: bool = False


@dataclass(frozen=True)
class StepStarted(Event):
    """name: fetch | resolve | step N: <command> | release | health | smoke: <name> | switch |
    verify | put back | verify put back"""
    name: str
    host: str | None = None


@dataclass(frozen=True)
class OutputLine(Event):
    name: str
    host: str | None
    stream: str          # stdout | stderr
    line: str


@dataclass(frozen=True)
class StepFinished(Event):
    name: str
    host: str | None
    ok: bool
    elapsed: float
    detail: str = ""
    tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice(Event):
    """Something people should know that is not a step: a forced promote, a
    recovered interrupted operation, a replaced release."""
    text: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    author: str

    @property
    def short(self) -> str:
        return self.sha[:7]           # a commit's sha is always known (refs.short is for maybes)


@dataclass(frozen=True)
class OperationFinished(Event):
    kind: str
    ok: bool
    colour: str
    message: str
    elapsed: float
    sha: str | None = None
    error: str | None = None
    error_type: str | None = None
    notes: tuple[Commit, ...] = ()


Callback = Callable[[Event], None]


class Relay:
    """Words from deep inside a part (the DigitalOcean router's "rate limited: retrying in
    2s") for whoever runs the current operation in this thread: ``with relay.to(emit):``
    around an operation, and the part calls ``relay(text)`` — a Notice to ``emit``."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, text: str) -> None:
        emit = getattr(self._local, "emit", None)
        if emit is not None:
            emit(Notice(text))

    @contextmanager
    def to(self, emit: Callback) -> Iterator[None]:
        before = getattr(self._local, "emit", None)
        self._local.emit = emit
        try:
            yield
        finally:
            self._local.emit = before


def fan_out(*listeners: Callback | None) -> Callback:
    """One listener that passes each event to all of ``listeners``; a listener that
    raises is not allowed to stop the operation."""
    active = [listener for listener in listeners if listener is not None]

    def emit(event: Event) -> None:
        for listener in active:
            try:
                listener(event)
            except Exception:  # a renderer must never break a deploy
                log.exception("event listener failed on %s", type(event).__name__)
    return emit
