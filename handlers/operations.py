"""Work that runs in our worker pool after the ack: call one pipeline function,
render its events and its outcome in the channel. Every failure ends as a message."""
from __future__ import annotations

import logging
from typing import Any, Callable

from deploy_core.errors import BluegreenError

from . import blocks, texts
from .context import Context
from .progress import OperationView, Progress

log = logging.getLogger(__name__)


def deploy(ctx: Context, ref: str, actor: str) -> None:
    view = OperationView("deploy", actor, ref=ref)
    _operation(ctx, view, lambda p: ctx.pipeline.deploy(ref, actor, listener=p),
               on_result=lambda r: blocks.deploy_ready(r, view.elapsed))


def promote(ctx: Context, actor: str, force: bool = False, to: str | None = None) -> None:
    view = OperationView("promote", actor, forced=force, colour=to)
    result = _operation(ctx, view, lambda p: ctx.pipeline.promote(actor, force=force, to=to,
                                                                   listener=p),
                        on_result=blocks.switched)
    if result is not None:
        post(ctx, blocks.release_notes(ctx.app_name, result),
             texts.release_notes_title(ctx.app_name, result.to_colour, result.to_sha))


def rollback(ctx: Context, actor: str) -> None:
    view = OperationView("rollback", actor)
    _operation(ctx, view, lambda p: ctx.pipeline.rollback(actor, listener=p),
               on_result=blocks.switched)


def _operation(ctx: Context, view: OperationView, call: Callable[[Progress], Any],
               on_result: Callable[[Any], list[dict]]) -> Any:
    """Post the operation's message, run ``call`` with it as listener, show the outcome."""
    progress = Progress(ctx.client, ctx.channel or "", view, blocks.operation,
                        interval=ctx.progress_interval, on_identified=remember_message(ctx))
    progress.post()
    result: Any = None
    error: BaseException | None = None
    switch = view.kind in ("promote", "rollback")
    ctx.switching(+1 if switch else 0)      # the watcher waits while we switch
    try:
        result = call(progress)
    except BluegreenError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - people get a sentence, the log the traceback
        log.exception("%s failed unexpectedly", view.kind)
        error = exc
    finally:
        if result is not None and switch:
            ctx.own_switches.add(result.switch_id)
        ctx.switching(-1 if switch else 0)
    if error is not None:
        log_id = view.op_id if view.kind == "deploy" and view.steps else None
        view.outcome = blocks.failure(view, error, log_id)
        view.outcome_text = blocks.failure_text(view, error)
    else:
        view.outcome = on_result(result)
        view.outcome_text = view.finished.message if view.finished else texts.KIND[view.kind]
    progress.finish()
    if result is not None or view.steps:     # a switch, or a deploy that changed the idle colour
        refresh_topic(ctx)
    return result


def message_key(kind: str, op_id: int | None) -> str:
    return f"slack-message:{kind}:{op_id}"


def remember_message(ctx: Context) -> Callable[[str, int, str, str], None]:
    """Keep which message shows an operation, so a restarted bot can close it."""
    def remember(kind: str, op_id: int, channel: str, ts: str) -> None:
        ctx.pipeline.remember(message_key(kind, op_id), f"{channel} {ts}")
    return remember


def close_interrupted_message(ctx: Context, kind: str, op_id: int | None, text: str) -> None:
    """Replace a dead operation's '⏳ running' message with what happened to it."""
    if op_id is None:
        return
    try:
        ref = ctx.pipeline.recall(message_key(kind, op_id))
        if not ref:
            return
        channel, ts = ref.split(" ", 1)
        ctx.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks.message(text))
    except Exception as exc:  # noqa: BLE001 - the announcement still goes out
        log.warning("could not close the interrupted operation's message: %s", type(exc).__name__)


def post(ctx: Context, message_blocks: list[dict], text: str) -> str | None:
    """Post to the deploy channel; a Slack failure is logged, never raised."""
    if not ctx.channel:
        return None
    try:
        return ctx.client.chat_postMessage(channel=ctx.channel, text=text,
                                           blocks=message_blocks)["ts"]
    except Exception as exc:  # noqa: BLE001
        log.warning("could not post to %s: %s", ctx.channel, type(exc).__name__)
        return None


def say(ctx: Context, text: str) -> str | None:
    return post(ctx, blocks.message(text), text)


def refresh_topic(ctx: Context, status: Any = None) -> None:
    """Set the channel topic to the live colour, its sha and the idle one, if it changed."""
    if not ctx.channel:
        return
    try:
        st = status or ctx.pipeline.status()
        topic = texts.topic(st)
        if topic != ctx.topic:
            ctx.client.conversations_setTopic(channel=ctx.channel, topic=topic)
            ctx.topic = topic
    except Exception as exc:  # noqa: BLE001 - the topic is a convenience
        log.warning("could not refresh the channel topic: %s", type(exc).__name__)
