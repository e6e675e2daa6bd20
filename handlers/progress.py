"""Live progress: a pipeline listener keeping one channel message per operation current.

Events arrive from the pipeline's worker threads; each marks the view dirty and a
timer sends at most one ``chat.update`` per ``interval`` seconds. ``finish`` always
sends the final state, retrying a few times, and a late stale update never
overwrites it (every snapshot carries a sequence number).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from slack_sdk.errors import SlackApiError

from deploy_core import events as ev

log = logging.getLogger(__name__)
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
HEARTBEAT_S = 3.0      # while a step runs, refresh its elapsed time this often


@dataclass
class StepView:
    name: str
    host: str | None
    started: float
    ok: bool | None = None           # None while running
    elapsed: float = 0.0
    detail: str = ""
    tail: tuple[str, ...] = ()
    last_line: str = ""


@dataclass
class OperationView:
    """What an operation's message shows; updated from events."""
    kind: str
    actor: str
    ref: str | None = None
    colour: str | None = None
    from_colour: str | None = None
    sha: str | None = None
    replaces: str | None = None
    replaces_rollback_target: bool = False
    replaces_foreign: bool = False
    replaces_proven: bool = True
    forced: bool = False
    op_id: int | None = None
    started: bool = False            # OperationStarted seen: refused otherwise
    steps: dict[tuple[str, str | None], StepView] = field(default_factory=dict)
    notices: list[tuple[str, str]] = field(default_factory=list)
    finished: ev.OperationFinished | None = None
    outcome: list[dict] = field(default_factory=list)   # result blocks, set before finish()
    outcome_text: str = ""

    def apply(self, e: ev.Event) -> None:
        if isinstance(e, ev.OperationStarted):
            self.started = True
            self.colour, self.from_colour, self.forced = e.colour, e.from_colour, e.forced
            self.ref = e.ref or self.ref
            self.sha, self.replaces, self.op_id = e.sha or self.sha, e.replaces, e.op_id
            self.replaces_rollback_target = e.replaces_rollback_target
            self.replaces_foreign, self.replaces_proven = e.replaces_foreign, e.replaces_proven
        elif isinstance(e, ev.StepStarted):
            self.steps[(e.name, e.host)] = StepView(e.name, e.host, e.at)
        elif isinstance(e, ev.OutputLine):
            step = self.steps.get((e.name, e.host))
            if step is not None:
                step.last_line = e.line
            if e.name == "resolve" and _FULL_SHA.fullmatch(e.line.strip()):
                self.sha = e.line.strip()
        elif isinstance(e, ev.StepFinished):
            step = self.steps.setdefault((e.name, e.host), StepView(e.name, e.host, e.at - e.elapsed))
            step.ok, step.elapsed, step.detail, step.tail = e.ok, e.elapsed, e.detail, e.tail
        elif isinstance(e, ev.Notice):
            self.notices.append((e.level, e.text))
        elif isinstance(e, ev.OperationFinished):
            self.finished = e
            self.sha = e.sha or self.sha
            self.colour = e.colour or self.colour
            self.op_id = e.op_id or self.op_id

    @property
    def elapsed(self) -> float:
        return self.finished.elapsed if self.finished else 0.0

    @property
    def running(self) -> bool:
        return any(s.ok is None for s in self.steps.values())


class Progress:
    """``p.deploy(ref, actor, listener=Progress(client, channel, view, render))``."""

    def __init__(self, client: Any, channel: str, view: OperationView,
                 render: Callable[[OperationView, float], tuple[str, list[dict]]], *,
                 interval: float = 1.0, clock: Callable[[], float] = time.time,
                 on_identified: Callable[[str, int, str, str], None] | None = None) -> None:
        self.client, self.channel, self.view = client, channel, view
        self.on_identified = on_identified       # (kind, op id, channel, ts), once
        self._identified = False
        self.render, self.interval, self.clock = render, interval, clock
        self.ts: str | None = None
        self._lock = threading.Lock()
        self._send = threading.Lock()
        self._timer: threading.Timer | None = None
        self._dirty = self._closed = False
        self._seq = self._sent_seq = 0
        self._last = self._due = 0.0

    def post(self) -> str | None:
        """Post the message this operation will keep updating."""
        text, blocks = self.render(self.view, self.clock())
        try:
            self.ts = self.client.chat_postMessage(channel=self.channel, text=text,
                                                   blocks=blocks)["ts"]
            self._last = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - Slack trouble must not stop the operation
            log.warning("could not post progress message: %s", _safe(exc))
        return self.ts

    def __call__(self, event: ev.Event) -> None:
        with self._lock:
            if self._closed:
                return
            self.view.apply(event)
            self._dirty = True
            if not self._identified and self.view.op_id is not None and self.ts is not None \
                    and self.on_identified is not None:
                self._identified = True
                try:
                    self.on_identified(self.view.kind, self.view.op_id, self.channel, self.ts)
                except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the operation
                    log.warning("could not remember the progress message: %s", _safe(exc))
            self._schedule(max(0.0, self._last + self.interval - time.monotonic()))

    def _schedule(self, delay: float) -> None:
        """Flush in ``delay`` seconds, unless a flush is due sooner already (lock held)."""
        due = time.monotonic() + delay
        if self._closed or (self._timer is not None and self._due <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._due = due
        self._timer = threading.Timer(delay, self._flush)
        self._timer.daemon = True
        self._timer.start()

    def _snapshot(self) -> tuple[int, str, list[dict]]:
        self._seq += 1
        return (self._seq, *self.render(self.view, self.clock()))

    def _flush(self) -> None:
        with self._lock:
            if self._timer is threading.current_thread():
                self._timer = None
            if not self._dirty or self._closed or self.ts is None:
                return
            self._dirty = False
            self._last = time.monotonic()
            seq, text, blocks = self._snapshot()
        ok = self._update(seq, text, blocks)
        with self._lock:
            if not ok:
                self._dirty = True
                self._schedule(self.interval * 2)
            elif self.view.running:
                self._dirty = True
                self._schedule(max(self.interval, HEARTBEAT_S))

    def _update(self, seq: int, text: str, blocks: list[dict]) -> bool:
        with self._send:
            if seq < self._sent_seq:
                return True            # a newer state is already showing
            try:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)
            except Exception as exc:  # noqa: BLE001 - retried by the next flush or finish()
                log.warning("chat.update failed: %s", _safe(exc))
                return False
            self._sent_seq = seq
            return True

    def finish(self, tries: int = 4) -> str | None:
        """Show the final state now (whatever the throttle says), retrying a few times."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            seq, text, blocks = self._snapshot()
        for attempt in range(tries):
            if self.ts is None:
                if self.post():
                    return self.ts
            elif self._update(seq, text, blocks):
                return self.ts
            time.sleep(min(0.5 * 2 ** attempt, 4))
        log.error("could not show the final state of %s in Slack", self.view.kind)
        return self.ts


def _safe(exc: BaseException) -> str:
    """A Slack client error without the request (which carries the token)."""
    if isinstance(exc, SlackApiError):
        return f"{exc.response.status_code} {exc.response.get('error', '')}"
    return type(exc).__name__
