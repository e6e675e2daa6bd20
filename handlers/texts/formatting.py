"""How the pieces of a message are written: people, shas, durations, times, colours,
releases, and text made safe for mrkdwn."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

from deploy_core.refs import short as short_sha

_ACTOR = re.compile(r"^(?P<name>.*) \((?P<id>[UW][A-Z0-9]+)\)$")
COLOUR_DOT = {"blue": "🔵", "green": "🟢"}
STEP_ICON = {"running": "⏳", "ok": "✅", "failed": "❌"}
KIND = {"deploy": "Deploy", "promote": "Promote", "rollback": "Rollback"}


def actor(user_id: str, user_name: str | None) -> str:
    """How a Slack user is recorded by the pipeline: readable in the CLI too."""
    return f"{user_name} ({user_id})" if user_name else user_id


def who(name: str | None) -> str:
    """An actor as Slack shows it: a mention when we know the user ID."""
    if not name:
        return "someone"
    m = _ACTOR.match(name)
    if m:
        return f"<@{m['id']}>"
    if re.fullmatch(r"[UW][A-Z0-9]{6,}", name):
        return f"<@{name}>"
    return name


def short(sha: str | None) -> str:
    return short_sha(sha, "—")


def seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def when(t: datetime | None) -> str:
    if t is None:
        return "—"
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return f"{t.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def ago(t: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    minutes = int((now - t).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60} h {minutes % 60:02d} min ago"


def colour(name: str | None) -> str:
    return f"{COLOUR_DOT.get(name or '', '⚪')} {name}" if name else "⚪ none"


def mrkdwn_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code_block(lines: Iterable[str], limit: int = 2800) -> str:
    text = "\n".join(lines).replace("```", "ʼʼʼ")
    if len(text) > limit:
        text = "…" + text[-limit:]
    return f"```{mrkdwn_escape(text)}```" if text else "_(no output)_"


def release(sha: str | None, *, foreign: bool = False, proven: bool = True) -> str:
    """A release as the channel shows it, saying how much of it was checked."""
    if not sha:
        return "—"
    notes = [n for n, on in (("not deployed by bluegreen", foreign),
                             ("checked out, not proven served", not proven)) if on]
    return short(sha) + (f" ({'; '.join(notes)})" if notes else "")


def colour_release(c: Any) -> str:
    """What a colour of ``status`` runs: its hosts' release, else what bluegreen deployed."""
    if c is None:
        return "—"
    if c.running:
        return release(c.running, foreign=c.foreign, proven=c.running_proven)
    return f"{short(c.sha)} (not read from the hosts)" if c.sha else "unknown"
