"""The Bolt App factory: a client pointed at $SLACK_API_URL, our handlers, our pool."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (ConnectionErrorRetryHandler,
                                                   RateLimitErrorRetryHandler)

import handlers
from deploy_core.config import Config
from deploy_core.errors import UsageError

from .background import Background
from .jobs import Jobs

DEFAULT_API_URL = "https://slack.com/api/"
_CONTEXT = "_bluegreen_context"


def web_client(env: Mapping[str, str], token: str | None = None) -> WebClient:
    """A WebClient for $SLACK_API_URL that waits out rate limits (429) a couple of times."""
    base = env.get("SLACK_API_URL") or DEFAULT_API_URL
    return WebClient(token=token, base_url=base if base.endswith("/") else base + "/", timeout=10,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1),
                                     RateLimitErrorRetryHandler(max_retry_count=2)])


def create_app(config: Config, env: Mapping[str, str], pipeline: Any = None, *,
               jobs: Jobs | None = None, progress_interval: float = 1.0,
               socket_mode: bool | None = None) -> App:
    """The bot's App. Without ``pipeline`` one is built from config and env on first use.

    Socket Mode (``SLACK_APP_TOKEN`` set) needs no signing secret; HTTP mode does."""
    if not config.slack.channel:
        raise UsageError("slack.channel is not set: the bot needs the deploy channel's ID (C…)")
    token = env.get("SLACK_BOT_TOKEN")
    if not token:
        raise UsageError("SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) is needed")
    socket = bool(env.get("SLACK_APP_TOKEN")) if socket_mode is None else socket_mode
    secret = env.get("SLACK_SIGNING_SECRET") or ""
    if not socket and not secret:
        raise UsageError("SLACK_SIGNING_SECRET is not set: HTTP mode checks every request's "
                         "signature (or set SLACK_APP_TOKEN for Socket Mode)")
    # Our listeners only parse, check, ack and submit to our pool, so Bolt may run them in
    # the request thread and answer when they return (process_before_response): no trip
    # through Bolt's five-thread executor and its 10 ms ack polling.
    app = App(client=web_client(env, token), signing_secret=secret,
              token_verification_enabled=False, request_verification_enabled=bool(secret),
              process_before_response=True, logger=logging.getLogger("bot.bolt"))
    ctx = handlers.Context(config, env, app.client, jobs or Jobs(), pipeline,
                           progress_interval=progress_interval)
    handlers.register(app, ctx)
    setattr(app, _CONTEXT, ctx)
    return app


def context_of(app: App) -> handlers.Context:
    return getattr(app, _CONTEXT)


def start_background(app: App) -> Background:
    """Recovery announcements now, then router and lock checks every watch interval."""
    ctx = context_of(app)
    return Background(handlers.Watcher(ctx), ctx.config.slack.watch_interval_s).start()
