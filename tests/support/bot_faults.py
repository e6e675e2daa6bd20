"""Shared pieces of the Slack-side fault tests (tests/bot/test_faults_*.py).

- ``SANDBOX``, ``DO_TOKEN``: their sandbox, on 127.0.0.71-73 (addresses no other test file
  uses), started once per test module by the ``fault_sandbox`` fixture (tests/bot/conftest.py)
  with two deployers (alice, carol); ``BotWorld`` (the ``world`` fixture) gives each test its
  own state database and puts the reserved IP back on blue.
- ``Bot``: the real App (``bot.create_app``) served over real HTTP by the same WSGI app
  gunicorn serves (``bot.serve.make_wsgi``), in this process so a test can wait until
  its jobs are done and read the store. Requests are signed like Slack signs them; each
  answer is an ``Answer``.
- ``Refusing``: a pipeline for ``Bot`` that records what reached it and carries out nothing.
- ``snapshot``: what a refused request must leave unchanged — history, lock, what each
  colour runs, each colour's latest deployment, the topic, what the public URL answers.
- ``everything_shown``: all the bot said, as one string, to look for what must never leak.
"""
from __future__ import annotations

import json
import os
import socketserver
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import requests

from bot import context_of, create_app, start_background
from bot.serve import make_wsgi
from deploy_core import config as config_mod
from deploy_core.errors import BluegreenError
from deploy_core.pipeline import Pipeline
from sandbox import DROPLETS, RESERVED_IP, Sandbox
from sandbox.slack_api import (Message, SlackAPI, block_actions_body, buttons_of, signed_headers, slash_command_body)
from tests.bot.support import ALICE, CHANNEL, SECRET

SANDBOX = {"blue": ("127.0.0.72", 8000), "green": ("127.0.0.73", 8000),
           "public": ("127.0.0.71", 8080)}
DO_TOKEN = "dop_v1_" + "f00dfeed" * 8       # the DigitalOcean stand-in's token, shaped like one


class BotWorld:
    """One test on the module's sandbox: its own state database, blue live, no faults."""

    def __init__(self, sb: Sandbox, state_dir: Path) -> None:
        self.sb = sb
        self.dir = state_dir
        sb.do.reset(assigned={RESERVED_IP: DROPLETS["blue"]})
        self.env = {**sb.env, "DATABASE_URL": f"sqlite:///{state_dir / 'state.db'}"}
        self._pipelines: list[Pipeline] = []

    def config(self, env: dict[str, str] | None = None, path: Path | None = None):
        return config_mod.load(path or self.sb.config_path, {**os.environ, **self.env, **(env or {})})

    def pipeline(self) -> Pipeline:
        """A pipeline of the test's own on the same state (to read the store)."""
        p = Pipeline.from_config(self.config(), {**os.environ, **self.env})
        self._pipelines.append(p)
        return p

    def close(self) -> None:
        for p in self._pipelines:
            p.close()


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Answer:
    status: int
    text: str
    seconds: float

    def json(self) -> dict:
        return json.loads(self.text) if self.text else {}


class Bot:
    """``with Bot(config, env, slack) as bot: bot.command("/deploy", "main")``."""

    def __init__(self, config: Any, env: dict[str, str], slack: SlackAPI, *,
                 background: bool = True, progress_interval: float = 0.2,
                 pipeline: Any = None) -> None:
        self.slack = slack
        full = {**env, "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack.url}
        self.app = create_app(config, full, pipeline, progress_interval=progress_interval,
                              socket_mode=False)
        self.ctx = context_of(self.app)
        self._own_pipeline = pipeline is None
        self._server = _Server(("127.0.0.1", 0), _Quiet)
        self._server.set_app(make_wsgi(self.app))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="bot-http")
        self._background = background
        self.watch: Any = None

    def __enter__(self) -> Bot:
        self._thread.start()
        if self._background:
            self.watch = start_background(self.app)
            self.slack.wait_for(lambda: self.slack.topic(CHANNEL), timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.watch is not None:
            self.watch.stop()
        self.wait()
        self._server.shutdown()
        self._server.server_close()
        self.ctx.jobs.shutdown(wait=True)
        if self._own_pipeline and self.ctx._pipeline is not None:
            self.ctx._pipeline.close()

    def wait(self, timeout: float = 60) -> None:
        """Until every job the bot was given has finished."""
        assert self.ctx.jobs.wait_idle(timeout), "the bot's jobs did not finish"

    # -- what Slack sends ------------------------------------------------------------------
    def post(self, body: str | bytes, *, headers: dict | None = None, secret: str = SECRET,
             timestamp: int | None = None) -> Answer:
        raw = body.encode() if isinstance(body, str) else body
        if headers is None:
            headers = signed_headers(secret, raw.decode("utf-8", "replace")
                                     if isinstance(body, bytes) else body, timestamp)
        t0 = time.perf_counter()
        answer = requests.post(self.url + "/slack/events", data=raw, headers=headers, timeout=15)
        return Answer(answer.status_code, answer.text, time.perf_counter() - t0)

    def command_body(self, command: str, text: str, user: tuple[str, str] = ALICE,
                     channel: str = CHANNEL) -> str:
        return slash_command_body(command, text, user_id=user[0], user_name=user[1],
                                  channel_id=channel,
                                  response_url=self.slack.response_url(channel, user[0]))

    def command(self, command: str, text: str, user: tuple[str, str] = ALICE,
                channel: str = CHANNEL, **kw: Any) -> Answer:
        return self.post(self.command_body(command, text, user, channel), **kw)

    def press_body(self, label: str, user: tuple[str, str] = ALICE,
                   message: Message | None = None) -> str:
        """The payload of a click on the newest ``label`` button (or the one on ``message``)."""
        messages = [message] if message else self.slack.messages(CHANNEL)
        found = [(m, bid, b) for m in messages for bid, b in buttons_of(m)
                 if b.get("text", {}).get("text") == label]
        assert found, f"no {label!r} button in the channel"
        m, block_id, button = found[-1]
        return block_actions_body(button, m, user_id=user[0], user_name=user[1], block_id=block_id,
                                  response_url=self.slack.response_url(m.channel, user[0], m.ts))

    def press(self, label: str, user: tuple[str, str] = ALICE, message: Message | None = None,
              **kw: Any) -> Answer:
        return self.post(self.press_body(label, user, message), **kw)


class Refusing:
    """A pipeline that records what reached it and carries out nothing."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "close":
            raise AttributeError(name)
        def call(*args, **kw):
            self.calls.append((name, args, kw))
            raise BluegreenError(f"the test double does not {name}")
        return call


def snapshot(p: Pipeline, sb: Sandbox, slack: SlackAPI) -> dict[str, Any]:
    store = p.store
    return {"history": p.history(100), "lock": store.current_lock(),
            "colours": [store.colour_state(c) for c in ("blue", "green")],
            "latest": [store.latest_deployment(c) for c in ("blue", "green")],
            "topic": slack.topic(CHANNEL), "serving": sb.live_identity()}


def everything_shown(slack: SlackAPI, *acks: Answer) -> str:
    """Every text the Slack stand-in recorded (messages, edits, ephemerals, topics,
    response_url posts) and every HTTP answer the bot gave, as one string."""
    parts = [json.dumps(c.args, ensure_ascii=False) for c in slack.calls]
    parts += [json.dumps(m.blocks, ensure_ascii=False) + m.text for m in slack.messages(CHANNEL)]
    parts += [a.text for a in acks]
    return "\n".join(parts)
