"""What the bot notices without being asked: operations a dead process left behind
(at start), traffic switched outside the bot, and holds people forgot."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from . import blocks, texts
from .context import Context
from .operations import close_interrupted_message, message_key, post, refresh_topic, say

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
        self.last_tick = datetime.now(timezone.utc)
        pipeline = self.ctx.pipeline
        switch = pipeline.unseen_switch()
        if switch is not None and switch.id not in self.ctx.own_switches \
                and pipeline.recall(message_key(switch.kind, switch.id)) is None:
            say(self.ctx, texts.switched_elsewhere(switch.kind, switch.actor, switch.to_colour))
        change = pipeline.observe_router()
        if change is not None:
            say(self.ctx, texts.outside_switch(change.from_colour, change.to_colour, change.detail))
        status = pipeline.status()
        refresh_topic(self.ctx, status)     # news or not: a topic that failed to set heals here
        self._remind(status)

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
