"""Button presses: check the presser, refuse a button the state has moved past (its
value is the deployment, switch or lock it was made for), then act like the command."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Callable

from . import answers, operations, texts
from .blocks import DISCARD, PROMOTE, ROLLBACK, UNLOCK, VIEW_LOG, without_actions
from .context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Press:
    who: str
    value: str
    channel: str
    ts: str
    blocks: list
    respond: Callable[..., Any]

    def tell(self, text: str) -> None:
        """Answer only the presser."""
        _tell(self.respond, text)


def register(app: Any, ctx: Context) -> None:
    for action_id, act in ((PROMOTE, promote), (DISCARD, discard), (ROLLBACK, rollback),
                           (UNLOCK, unlock), (VIEW_LOG, view_log)):
        app.action(action_id)(_listener(ctx, action_id, act))
    app.action(re.compile(".*"))(_unknown(ctx))       # last: Bolt runs the first match


def _unknown(ctx: Context):
    """A button we did not make (an older bot's, or a crafted click): say so, do nothing."""
    def on_press(ack: Callable, body: dict, respond: Callable) -> None:
        ack()
        actions = body.get("actions") or [{}]
        action_id = str(actions[0].get("action_id", "")) if isinstance(actions[0], dict) else "?"
        ctx.jobs.submit(_tell, respond, texts.unknown_button(action_id))
    return on_press


def _tell(respond: Callable[..., Any], text: str) -> None:
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not answer a button press: %s", type(exc).__name__)


def _made_by_us(action_id: str, value: str) -> bool:
    """Promote, Discard, Rollback and View log carry the id they were made for."""
    return action_id == UNLOCK or (value.isascii() and value.isdigit() and len(value) <= 18)


def _listener(ctx: Context, action_id: str, act: Callable[[Context, Press], None]):
    def on_press(ack: Callable, body: dict, respond: Callable) -> None:
        ack()
        user = body.get("user", {})
        press = Press(texts.actor(user.get("id", ""), user.get("username") or user.get("name")),
                      str(body.get("actions", [{}])[0].get("value", "")),
                      body.get("channel", {}).get("id", ""),
                      body.get("message", {}).get("ts", ""),
                      body.get("message", {}).get("blocks", []), respond)
        if not _made_by_us(action_id, press.value):
            ctx.jobs.submit(press.tell, texts.unknown_button(action_id))
            return
        if action_id != VIEW_LOG and not ctx.may_act(user.get("id", "")):
            ctx.jobs.submit(press.tell, texts.not_deployer(ctx.config.slack.deployers))
            return
        key = f"{action_id}:{press.value}"
        holder = ctx.claim(key, press.who)
        if holder is not None:
            ctx.jobs.submit(press.tell, texts.pressed_already(holder))
            return

        def job() -> None:
            try:
                act(ctx, press)
            except Exception as exc:  # noqa: BLE001 - always a sentence, never a traceback
                log.exception("button %s failed", action_id)
                press.tell("❌ " + texts.error_text(exc))
            finally:
                ctx.release(key)
        if not ctx.jobs.submit(job):
            ctx.release(key)
            press.tell(texts.busy())            # rare: the pool is full
    return on_press


def _retire(ctx: Context, press: Press, note: str) -> None:
    """Replace the pressed message's buttons with a note."""
    try:
        ctx.client.chat_update(channel=press.channel, ts=press.ts, text=note,
                               blocks=without_actions(press.blocks, note))
    except Exception as exc:  # noqa: BLE001
        log.warning("could not update the pressed message: %s", type(exc).__name__)


def _refuse(ctx: Context, press: Press, reason: str) -> None:
    """Tell the presser; retire the buttons too, unless a press of this message was acted
    on (a late or replayed click carries the old blocks: they would hide who acted)."""
    if not ctx.acted_on(press.ts):
        _retire(ctx, press, texts.retired_stale(reason))
    press.tell(texts.stale(reason))


def _acted(ctx: Context, press: Press, note: str) -> None:
    ctx.mark_acted(press.ts)
    _retire(ctx, press, note)


def deploy_staleness(st: Any, deployment_id: int, for_promote: bool) -> str | None:
    """Why a Promote/Discard button made for ``deployment_id`` no longer applies."""
    live = st.colours.get(st.live) if st.live else None
    if live is not None and live.deployment is not None and live.deployment.id == deployment_id:
        return texts.stale_already_live(deployment_id, st.live)
    if st.idle is None:
        return texts.stale_nothing_live()
    latest = st.colours[st.idle].deployment
    if latest is None or latest.id != deployment_id:
        return texts.stale_newer_deploy(deployment_id, st.idle, latest)
    if not latest.promotable:
        return texts.stale_not_promotable(deployment_id, getattr(latest, "promotable_note", None))
    if for_promote and not st.colours[st.idle].promotable:
        return texts.stale_colour_changed(deployment_id, st.idle)
    return None


def promote(ctx: Context, press: Press) -> None:
    reason = deploy_staleness(ctx.pipeline.status(), int(press.value), for_promote=True)
    if reason:
        return _refuse(ctx, press, reason)
    _acted(ctx, press, texts.acted("⏩ Promote pressed", press.who))
    operations.promote(ctx, press.who)


def discard(ctx: Context, press: Press) -> None:
    reason = deploy_staleness(ctx.pipeline.status(), int(press.value), for_promote=False)
    if reason:
        return _refuse(ctx, press, reason)
    dep = ctx.pipeline.discard(press.who)
    _acted(ctx, press, texts.discarded(press.who, dep))


def rollback(ctx: Context, press: Press) -> None:
    switches = [h for h in ctx.pipeline.history(50) if h.kind in ("promote", "rollback")]
    latest = switches[0] if switches else None
    if latest is None or latest.id != int(press.value) or latest.status != "succeeded":
        return _refuse(ctx, press, texts.stale_switch(int(press.value), latest))
    _acted(ctx, press, texts.acted("⏪ Rollback pressed", press.who))
    operations.rollback(ctx, press.who)


def unlock(ctx: Context, press: Press) -> None:
    lock = ctx.pipeline.status().lock
    if lock is None or lock.kind != "hold" or lock.since.isoformat() != press.value:
        return _refuse(ctx, press, texts.stale_hold())
    _acted(ctx, press, texts.unlocked(press.who, ctx.pipeline.unlock(press.who)))


def view_log(ctx: Context, press: Press) -> None:
    answers.show_log(ctx, press.respond, int(press.value))
