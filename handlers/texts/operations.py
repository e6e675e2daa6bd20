"""What the bot says about what people ask: help, refusals, out-of-date buttons, and each
deploy, promote and rollback as it runs and ends."""
from __future__ import annotations

import re
from typing import Any, Iterable

from deploy_core import errors

from .formatting import KIND, colour, mrkdwn_escape, release, seconds, short, who
from .status import lock_line

_MENTION = re.compile(r"\b([\w.-]+) \(([UW][A-Z0-9]{6,})\)")   # an actor inside a message


# --- help, refusals and pointers --------------------------------------------------------

HELP = """*bluegreen* deploys to the idle colour, tests it, and switches traffic when you say so.
• `/deploy REF` — deploy a branch, tag or sha to the idle colour, then health and smoke tests
• `/promote` — switch traffic to the idle colour (`/promote force` waives a failed smoke test; \
`/promote to green` when no colour is live)
• `/rollback` — switch back to the colour that was live before
• `/deploy status` — live and idle colour, their releases, health, lock (works in any channel)
• `/deploy cancel` — stop a running deploy after its current step
• `/deploy discard` — mark the idle colour's release as not to be promoted
• `/deploy lock REASON` · `/deploy unlock` — hold all deploys and switches
• `/deploy history` · `/deploy log ID` — what happened, and a deploy's full output"""


def not_deployer(deployers: Iterable[str]) -> str:
    names = [f"<@{u}>" for u in deployers]
    if not names:
        return "Nobody may deploy from Slack yet: add user IDs to `[slack].deployers` in bluegreen.toml."
    return (f"Only {_join(names)} may deploy, promote, roll back, lock and unlock. "
            "Ask one of them — `/deploy status` works for everyone.")


def wrong_channel(channel: str) -> str:
    return (f"Deploys happen in <#{channel}>, where everyone can follow them: run this there. "
            "(`/deploy status` works anywhere.)")


def busy() -> str:
    return "The bot is busy with other requests right now; try again in a moment."


def pressed_already(holder: str) -> str:
    return f"{who(holder)} pressed this a moment ago; it is being handled."


def usage_error(message: str) -> str:
    return f"⚠️ {message}\nSee `/deploy help`."


def unreadable(why: str) -> str:
    return f"bluegreen could not read this request ({why}), so it did nothing."


def unknown_button(action_id: str) -> str:
    return (f"This button (`{mrkdwn_escape(action_id[:60])}`) is not one bluegreen made, "
            "so it did nothing. `/deploy status` shows where things stand.")


def stale(reason: str) -> str:
    return f"This button is out of date, so it did nothing: {reason}"


def retired_stale(reason: str) -> str:
    return f"Out of date: {reason}"


def stale_already_live(dep_id: int, colour_name: str) -> str:
    return f"deploy #{dep_id} is already live on {colour_name}"


def stale_nothing_live() -> str:
    return "no colour is live, so there is no idle colour (use `/promote to COLOUR`)"


def stale_newer_deploy(dep_id: int, idle: str, latest: Any) -> str:
    now = f"#{latest.id} ({latest.ref}, {latest.status})" if latest else "none"
    return f"{idle}'s latest deploy is {now} now, not #{dep_id}"


def stale_not_promotable(dep_id: int, note: str | None) -> str:
    return f"deploy #{dep_id} is no longer promotable" + (f" ({note})" if note else "")


def stale_colour_changed(dep_id: int, idle: str) -> str:
    return f"{idle} has changed since deploy #{dep_id}"


def stale_switch(switch_id: int, latest: Any) -> str:
    if latest is not None and latest.id == switch_id:
        return f"{latest.kind} #{latest.id} {latest.status}"
    now = f"{latest.kind} #{latest.id} to {latest.colour}" if latest else "none"
    return f"a later switch happened since ({now})"


def stale_hold() -> str:
    return "that hold has been lifted already"


# --- operation messages ------------------------------------------------------------------

def operation_title(kind: str, colour_name: str | None, ref: str | None,
                    from_colour: str | None, forced: bool) -> str:
    to = colour(colour_name) if colour_name else "…"
    if kind == "deploy":
        return f"*🚀 Deploy `{ref}` → {to}*"
    verb = "Promote" if kind == "promote" else "Rollback"
    frm = f"{colour(from_colour)} → " if from_colour else ""
    return f"*{'🔀' if kind == 'promote' else '↩️'} {verb}{' (FORCED)' if forced else ''}: {frm}{to}*"


def started_by(by: str, replaces: str | None, colour_name: str | None,
               rollback_target: bool = False, foreign: bool = False, proven: bool = True) -> str:
    text = f"by {who(by)}"
    if replaces:
        text += f" · replaces {release(replaces, foreign=foreign, proven=proven)} on {colour_name}"
        text += " (the rollback target)" if rollback_target else ""
    return text


def step_line(icon: str, name: str, host: str | None, elapsed: float, detail: str) -> str:
    where = f" · {host}" if host else ""
    tail = f" — {mrkdwn_escape(detail[:200])}" if detail else ""
    return f"{icon} {mrkdwn_escape(name[:120])}{where} · {seconds(elapsed)}{tail}"


def deploy_ready(ref: str, sha: str, colour_name: str, elapsed: float, evidence: str) -> str:
    """``evidence`` says what was checked (DeployResult.evidence), never more."""
    icon = "✅" if evidence.endswith("ready to promote") else "⚠️"
    evidence = evidence.replace("ready to promote", "*ready to promote*")
    return f"{icon} `{ref}` @ `{short(sha)}` is on {colour(colour_name)} in {seconds(elapsed)}: {evidence}."


def replaced_release(sha: str | None, colour_name: str, rollback_target: bool = False,
                     foreign: bool = False) -> str:
    if not sha:
        return f"{colour_name} ran nothing bluegreen could read before."
    what = f"`{short(sha)}`" + (" (not deployed by bluegreen)" if foreign else "")
    if rollback_target:
        return (f"This replaced {what} on {colour_name}, the release that was live "
                f"before: the rollback target.")
    return f"This replaced {what} on {colour_name}; it was not the rollback target."


def try_it(urls: Iterable[str]) -> str:
    links = " · ".join(f"<{u}|{u.split('://', 1)[-1]}>" for u in urls)
    return f"Try it before it goes live: {links}"


def switched(kind: str, to: str, to_sha: str | None, frm: str | None, from_sha: str | None,
             elapsed: float, forced: bool) -> str:
    verb = "is live" if kind == "promote" else "is live again"
    was = f" (was {colour(frm)} @ `{short(from_sha)}`)" if frm else ""
    force = " ⚠️ *forced*: the smoke-test requirement was waived." if forced else ""
    return f"✅ {colour(to)} @ `{short(to_sha)}` {verb}{was}, verified through the public URL, " \
           f"in {seconds(elapsed)}.{force}"


def failed(kind: str, message: str, ref: str | None = None, sha: str | None = None,
           colour_name: str | None = None, cancelled: bool = False) -> str:
    """``message`` is already readable mrkdwn (see error_text)."""
    what = KIND.get(kind, kind)
    if ref:
        what += f" of `{ref}`" + (f" @ `{short(sha)}`" if sha else "")
    if colour_name:
        what += f" to {colour(colour_name)}"
    if cancelled:
        return f"✋ *{what} cancelled.* {message}"
    return f"❌ *{what} failed.* {message}"


def refused(kind: str, message: str, ref: str | None = None) -> str:
    what = KIND.get(kind, kind) + (f" of `{ref}`" if ref else "")
    return f"🚫 *{what} refused.* {message}"


def acted(verb: str, by: str) -> str:
    return f"{verb} by {who(by)}."


def release_notes_title(app: str, colour_name: str, sha: str | None) -> str:
    return f"📦 Release notes: {app} {colour_name} @ {short(sha)} is live"


def release_notes(commits: Iterable[Any]) -> str:
    lines = [f"• `{c.short}` {mrkdwn_escape(c.subject[:150])} — {mrkdwn_escape(c.author)}"
             for c in commits]
    if not lines:
        return "No new commits since the release that was live before."
    if len(lines) > 30:
        lines = lines[:30] + [f"… and {len(lines) - 30} more"]
    return "\n".join(lines)


# What a person can do next (BluegreenError.needs), in Slack's words.
NEXT_STEP = {"promote-force": " (`/promote force` waives this, never the health check)",
             "promote-to": ": say where traffic goes with `/promote to COLOUR`"}


def error_text(exc: BaseException) -> str:
    """A readable sentence for any failure; never a traceback or a token."""
    if isinstance(exc, errors.LockHeld):
        return lock_line(exc.lock)
    if isinstance(exc, errors.BluegreenError):
        said = mrkdwn_escape(exc.message) + NEXT_STEP.get(exc.needs or "", "")
        return _MENTION.sub(r"<@\2>", said)
    return f"an unexpected {type(exc).__name__} happened in the bot; the bot's log has the details"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
