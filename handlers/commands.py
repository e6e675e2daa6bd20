"""Slash commands: parse, check who asks and where, ack at once, hand the work to
our worker pool. Nothing here waits for the pipeline."""
from __future__ import annotations

import re
from typing import Any, Callable

from . import answers, operations, reports, texts
from .context import Context
from .parse import ANYWHERE, Command, ParseError, parse

SLASH_COMMANDS = ("/deploy", "/promote", "/rollback")


def register(app: Any, ctx: Context) -> None:
    def on_command(ack: Callable, command: dict, respond: Callable) -> None:
        handle(ctx, ack, command, respond)
    for slash in SLASH_COMMANDS:
        app.command(slash)(on_command)
    app.command(re.compile(".*"))(on_command)   # any other: parse says it is unknown


def handle(ctx: Context, ack: Callable, command: dict, respond: Callable) -> None:
    user, channel = command.get("user_id", ""), command.get("channel_id", "")
    try:
        cmd = parse(command.get("command", ""), command.get("text", ""))
    except ParseError as exc:
        return ack(text=texts.usage_error(str(exc)), response_type="ephemeral")
    if cmd.name == "help":
        return ack(text=texts.HELP, blocks=reports.help_blocks(), response_type="ephemeral")
    if cmd.mutating and not ctx.may_act(user):
        return ack(text=texts.not_deployer(ctx.config.slack.deployers), response_type="ephemeral")
    if cmd.name not in ANYWHERE and not ctx.in_place(channel):
        return ack(text=texts.wrong_channel(ctx.channel or ""), response_type="ephemeral")
    who = texts.actor(user, command.get("user_name"))
    if not ctx.jobs.submit(work(ctx, cmd, who, respond)):
        return ack(text=texts.busy(), response_type="ephemeral")
    ack()


def work(ctx: Context, cmd: Command, who: str, respond: Callable) -> Callable[[], None]:
    """The job for a parsed, authorised command."""
    jobs: dict[str, Callable[[], None]] = {
        "deploy": lambda: operations.deploy(ctx, cmd.ref or "", who),
        "promote": lambda: operations.promote(ctx, who, force=cmd.force, to=cmd.to),
        "rollback": lambda: operations.rollback(ctx, who),
        "status": lambda: answers.status(ctx, respond),
        "history": lambda: answers.history(ctx, respond),
        "log": lambda: answers.show_log(ctx, respond, cmd.id or 0),
        "cancel": lambda: answers.cancel(ctx, who),
        "discard": lambda: answers.discard(ctx, who),
        "lock": lambda: answers.lock(ctx, who, cmd.reason),
        "unlock": lambda: answers.unlock(ctx, who),
    }
    return jobs[cmd.name]
