"""The small commands: reports only the asker sees (status, history, log) and the
quick changes everyone should see (cancel, discard, lock, unlock)."""
from __future__ import annotations

import logging
from typing import Any, Callable

from deploy_core.errors import BluegreenError

from . import reports, texts
from .blocks import message
from .operations import refresh_topic, say

log = logging.getLogger(__name__)
Respond = Callable[..., Any]


def _private(respond: Respond, blocks: list[dict], text: str) -> None:
    try:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # noqa: BLE001 - an expired response_url is not worth a traceback
        log.warning("could not answer through response_url: %s", type(exc).__name__)


def _failure(respond: Respond, exc: BaseException) -> None:
    if not _expected(exc):
        log.exception("unexpected error in a report", exc_info=exc)
    text = "❌ " + texts.error_text(exc)
    _private(respond, message(text), text)


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, BluegreenError)


def status(ctx: Any, respond: Respond) -> None:
    try:
        st = ctx.pipeline.status()
    except Exception as exc:  # noqa: BLE001
        return _failure(respond, exc)
    _private(respond, reports.status(ctx.app_name, st), texts.topic(st))
    refresh_topic(ctx, st)


def history(ctx: Any, respond: Respond) -> None:
    try:
        items = ctx.pipeline.history(20)
    except Exception as exc:  # noqa: BLE001
        return _failure(respond, exc)
    _private(respond, reports.history(items), "History")


def show_log(ctx: Any, respond: Respond, deployment_id: int) -> None:
    try:
        dep, steps = ctx.pipeline.log(deployment_id)
    except Exception as exc:  # noqa: BLE001
        return _failure(respond, exc)
    _private(respond, reports.log(dep, steps), f"Log of deploy #{deployment_id}")


def _changed(ctx: Any, work: Callable[[], str]) -> None:
    """Run a quick change; its outcome, or its failure, goes to the channel."""
    try:
        text = work()
    except Exception as exc:  # noqa: BLE001
        if not _expected(exc):
            log.exception("unexpected error in a command", exc_info=exc)
        text = "❌ " + texts.error_text(exc)
    say(ctx, text)


def cancel(ctx: Any, who: str) -> None:
    _changed(ctx, lambda: texts.cancelled(who, ctx.pipeline.cancel(who)))


def discard(ctx: Any, who: str) -> None:
    _changed(ctx, lambda: texts.discarded(who, ctx.pipeline.discard(who)))


def lock(ctx: Any, who: str, reason: str) -> None:
    _changed(ctx, lambda: texts.locked(ctx.pipeline.lock(who, reason).holder, reason))


def unlock(ctx: Any, who: str) -> None:
    _changed(ctx, lambda: texts.unlocked(who, ctx.pipeline.unlock(who)))
