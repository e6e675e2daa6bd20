"""What the bot says about where things stand: the lock, the channel topic, switches made
elsewhere, interrupted operations, and the answers to lock, unlock, cancel and discard."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .formatting import COLOUR_DOT, KIND, ago, colour, colour_release, mrkdwn_escape, short, when, who

def lock_line(lock: Any) -> str:
    what = "holds deploys" if lock.kind == "hold" else "is running an operation"
    return (f"🔒 {who(lock.holder)} {what} since {when(lock.since)} ({ago(lock.since)}): "
            f"{mrkdwn_escape(lock.reason)}")


def topic(st: Any) -> str:
    """The channel topic for a ``status``: live and idle colour and what each runs."""
    if st.live is None:
        return f"⚠️ no colour is live (router: {st.router}) · blue/green: use /promote to COLOUR"
    dot = COLOUR_DOT.get(st.live, "🟢")
    live, idle = st.colours.get(st.live), st.colours.get(st.idle)
    return (f"{dot} live: {st.live} @ {colour_release(live)} · "
            f"idle: {st.idle} @ {colour_release(idle)}")[:250]


def outside_switch(frm: str | None, to: str | None, detail: str) -> str:
    if to is None:
        return (f"⚠️ Traffic changed outside bluegreen: no colour is live any more "
                f"(was {frm}). {mrkdwn_escape(detail)}")
    return (f"⚠️ Traffic was switched outside bluegreen (e.g. in the DigitalOcean console): "
            f"{colour(to)} is live now (was {colour(frm)}). Rollback will refuse until a "
            f"switch is made here; `/promote to COLOUR` chooses explicitly.")


def switched_elsewhere(kind: str, by: str, to: str) -> str:
    where = "from the command line" if by.startswith("cli:") else "outside this channel"
    return f"🔀 {who(by)} ran {kind} {where}: {colour(to)} is live now."


def lock_reminder(holder: str, reason: str, since: datetime) -> str:
    return (f"⏰ Reminder: {who(holder)} has held deploys since {when(since)} ({ago(since)}): "
            f"_{mrkdwn_escape(reason)}_. Unlock when done.")


def interrupted(kind: str, op_id: int | None, holder: str, colour_name: str | None,
                since: datetime) -> str:
    what = f"{KIND.get(kind, kind)} #{op_id}" if op_id else KIND.get(kind, kind)
    where = f" to {colour_name}" if colour_name else ""
    return (f"⚠️ {what}{where} by {who(holder)}, started {when(since)}, was interrupted: the bot "
            f"stopped while it ran. It is marked interrupted and its lock released; "
            f"{'deploy again before promoting.' if kind == 'deploy' else 'check `/deploy status`.'}")


def locked(holder: str, reason: str) -> str:
    return f"🔒 {who(holder)} locked deploys: _{mrkdwn_escape(reason)}_. `/deploy unlock` lifts it."


def unlocked(by: str, lock: Any) -> str:
    if lock is None:
        return f"🔓 Nothing was locked (checked by {who(by)})."
    return f"🔓 {who(by)} unlocked deploys (held by {who(lock.holder)} since {when(lock.since)})."


def cancelled(by: str, dep_id: int | None) -> str:
    if dep_id is None:
        return "No deploy is running: nothing to cancel."
    return f"✋ {who(by)} asked deploy #{dep_id} to stop after its current step."


def discarded(by: str, dep: Any) -> str:
    return (f"🗑️ {who(by)} discarded deploy #{dep.id} (`{dep.ref}` @ `{short(dep.sha)}` on "
            f"{dep.colour}): it will not be promoted.")
