"""The bot under gunicorn on 127.0.0.1 (a socket bound here, handed over as fd://),
and a person in Slack sending it signed slash commands and button clicks over HTTP."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sandbox.slack_api import (Message, SlackAPI, block_actions_body, buttons_of, render_message,
                               signed_headers, slash_command_body)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-signing-secret"
CHANNEL = "C0DEPLOYS"
ALICE = ("U0ALICE", "alice")     # a deployer
BOB = ("U0BOB", "bob")           # not a deployer
CAROL = ("U0CAROL", "carol")     # a second deployer (in the fault tests' sandbox)

MINIMAL_TOML = """
[app]
name = "shop"
public_url = "http://127.0.0.9:9"

[deploy]
transport = "local"
path = "/nonexistent/{colour}"
steps = ["true"]

[colours.blue]
identity = "blue-x"
hosts = [{ address = "127.0.0.9", url = "http://127.0.0.9:9" }]
droplet_id = 1

[colours.green]
identity = "green-x"
hosts = [{ address = "127.0.0.9", url = "http://127.0.0.9:9" }]
droplet_id = 2

[router]
kind = "digitalocean"
reserved_ip = "203.0.113.7"
api_timeout_s = 1

[slack]
channel = "C0DEPLOYS"
deployers = ["U0ALICE"]
watch_interval_s = 3600
"""


class BotServer:
    """``with BotServer(env, log) as bot: bot.command("/deploy", "status", ALICE)``."""

    def __init__(self, env: dict[str, str], log_path: Path, slack: SlackAPI, threads: int = 8):
        self.env, self.log_path, self.slack, self.threads = env, log_path, slack, threads
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> BotServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(self.threads),
                 "--bind", f"fd://{sock.fileno()}", "--graceful-timeout", "5", "bot.wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(sock.fileno(),), start_new_session=True)
        sock.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the bot did not start:\n" + self.log())
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def post(self, body: str, *, secret: str = SECRET, timestamp: int | None = None,
             headers: dict | None = None) -> requests.Response:
        return requests.post(self.url + "/slack/events", data=body.encode(), timeout=10,
                             headers=headers or signed_headers(secret, body, timestamp))

    def command(self, command: str, text: str, user: tuple[str, str] = ALICE,
                channel: str = CHANNEL, **kw) -> requests.Response:
        body = slash_command_body(command, text, user_id=user[0], user_name=user[1],
                                  channel_id=channel,
                                  response_url=self.slack.response_url(channel, user[0]))
        return self.post(body, **kw)

    def press(self, label: str, user: tuple[str, str] = ALICE, message: Message | None = None,
              **kw) -> requests.Response:
        """Click the newest button labelled ``label`` (or the one on ``message``)."""
        messages = [message] if message else self.slack.messages(CHANNEL)
        found = [(m, bid, b) for m in messages for bid, b in buttons_of(m)
                 if b.get("text", {}).get("text") == label]
        assert found, f"no {label!r} button in the channel"
        m, block_id, button = found[-1]
        body = block_actions_body(button, m, user_id=user[0], user_name=user[1], block_id=block_id,
                                  response_url=self.slack.response_url(m.channel, user[0], m.ts))
        return self.post(body, **kw)


def slack_env(slack: SlackAPI, **extra: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url, **extra}


def changes(slack: SlackAPI) -> list:
    """Every call that changed what someone sees (everything but auth.test and reads)."""
    return [c for c in slack.calls if c.method not in ("auth.test", "conversations.info")]


def channel_text(slack: SlackAPI) -> list[str]:
    return [render_message(m, slack.users, slack.channels) for m in slack.messages(CHANNEL)]


def found(sha: str) -> str:
    """A release the channel shows as running but not deployed by bluegreen."""
    return f"{sha[:7]} (not deployed by bluegreen)"


def newest(slack: SlackAPI, *needles: str, timeout: float = 60) -> Message:
    """The newest channel message showing every needle (and no ⏳ step), waiting for it."""
    def find() -> Message | None:
        for m in reversed(slack.messages(CHANNEL)):
            text = render_message(m, slack.users, slack.channels)
            if all(n in text for n in needles) and "⏳" not in text:
                return m
        return None
    try:
        return slack.wait_for(find, timeout)
    except AssertionError:
        raise AssertionError(f"no message shows {needles}; the channel shows:\n"
                             + "\n---\n".join(channel_text(slack))) from None
