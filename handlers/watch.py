"""What the bot notices without being asked: operations a dead process left behind
(at start), traffic switched outside the bot, and holds people forgot."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from . import blocks, texts
from .context import Context
from .operations import close_interrupted_message, post, refresh_topic, say

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reminded: dict[str, int] = {}      # hold since → reminders sent
        self.last_tick = datetime.now(timezone.utc)

    def start(self) -> None:
        """At bot start: announce interrupted operations, then set the topic."""
        for rec in self.ctx.pipeline.recover():
            text = texts.interrupted(rec.kind, rec.id, rec.holder, rec.colour, rec.started_at)
            close_interrupted_message(self.ctx, rec.kind, rec.id, text)
            say(self.ctx, text)
        self.tick()          # a switch made by hand while the bot was away is news too
        refresh_topic(self.ctx)

    def tick(self) -> None:
        if self.ctx.switching_now:       # our own switch: announced by its own message
            return
        previous, self.last_tick = self.last_tick, datetime.now(timezone.utc)
        change = self.ctx.pipeline.observe_router()
        status = None
        if change is not None:
            status = self.ctx.pipeline.status()
            self._announce(change, previous)
            refresh_topic(self.ctx, status)
        self._remind(status or self.ctx.pipeline.status())

    def _announce(self, change: Any, previous: datetime) -> None:
        """Our own switches were announced already; a CLI switch or a switch by hand is news."""
        switches = [h for h in self.ctx.pipeline.history(20) if h.kind in ("promote", "rollback")]
        latest = switches[0] if switches else None
        recent = latest is not None and latest.finished_at is not None and \
            _utc(latest.finished_at) >= previous - timedelta(seconds=5)
        if latest is not None and latest.status == "succeeded" and recent \
                and latest.colour == change.to_colour:
            if latest.id not in self.ctx.own_switches:
                say(self.ctx, texts.switched_elsewhere(latest.kind, latest.actor, latest.colour))
            return
        say(self.ctx, texts.outside_switch(change.from_colour, change.to_colour, change.detail))

    def _remind(self, status: Any) -> None:
        lock = status.lock
        period = self.ctx.config.slack.lock_reminder_h * 3600
        if lock is None or lock.kind != "hold" or period <= 0:
            return
        held = (datetime.now(timezone.utc) - _utc(lock.since)).total_seconds()
        due = int(held // period)
        key = lock.since.isoformat()
        if due >= 1 and self.reminded.get(key, 0) < due:
            self.reminded[key] = due
            post(self.ctx, blocks.lock_reminder(lock),
                 texts.lock_reminder(lock.holder, lock.reason, lock.since))


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
