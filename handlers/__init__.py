"""Slack handlers: parse, authorise, ack, call the pipeline, render its events.

``register(app, ctx)`` attaches the slash commands and buttons to a Bolt App.
Handlers never touch SSH, the router API or SQL: only ``deploy_core.pipeline``.
"""
from __future__ import annotations

from typing import Any

from . import buttons, commands
from .context import Context
from .watch import Watcher

__all__ = ["Context", "Watcher", "register"]


def register(app: Any, ctx: Context) -> None:
    commands.register(app, ctx)
    buttons.register(app, ctx)
