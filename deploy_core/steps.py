"""One step of an operation, told as events: ``StepStarted`` when it begins and
``StepFinished`` (ok or not, elapsed, detail, last lines) when its block ends.

    with step(emit, "health", host.name, op_id) as s:
        answer = ...
        s.detail = answer.detail          # what people see beside the step
        if not answer.ok:
            s.fail(f"answered {answer.detail}")   # a failed step need not raise

An exception leaving the block finishes the step as failed with the error's words.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .events import Callback, StepFinished, StepStarted


class Step:
    """What a running step will report when it finishes."""

    def __init__(self) -> None:
        self.ok = True
        self.detail = ""
        self.tail: tuple[str, ...] = ()
        self.started = time.monotonic()

    def fail(self, detail: str, tail: Sequence[str] = ()) -> None:
        self.ok, self.detail, self.tail = False, detail, tuple(tail)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextmanager
def step(emit: Callback, name: str, host: str | None = None,
         op_id: int | None = None) -> Iterator[Step]:
    emit(StepStarted(name=name, host=host, op_id=op_id))
    current = Step()
    try:
        yield current
    except BaseException as exc:
        detail = current.detail if not current.ok and current.detail else str(exc) or type(exc).__name__
        emit(StepFinished(name=name, host=host, ok=False, elapsed=current.elapsed, detail=detail,
                          tail=current.tail, op_id=op_id))
        raise
    emit(StepFinished(name=name, host=host, ok=current.ok, elapsed=current.elapsed,
                      detail=current.detail, tail=current.tail, op_id=op_id))
