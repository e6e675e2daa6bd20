"""The bot tier's fixtures: the Slack stand-in, and two sandboxes on addresses no other test
file uses.

- ``slack``: the Slack stand-in with #deploys and #general, and alice, bob and carol.
- ``sandbox`` and ``start_bot``: a fresh sandbox per test on 127.0.0.31-33 with a fast
  watch, a lock reminder after ~1.5 s and a 1 s lease, and the bot under gunicorn on it
  (test_cycle.py, test_while_deploying.py, test_demo.py).
- ``fault_sandbox`` and ``world``: one sandbox per fault test module on 127.0.0.71-73
  with two deployers, and a test's own state on it (tests/support/bot_faults.py).
"""
from __future__ import annotations

from contextlib import closing
from typing import Iterator

import pytest

from sandbox import Sandbox
from sandbox.slack_api import SlackAPI
from tests.support.bot_faults import DO_TOKEN, SANDBOX, BotWorld

from .support import ALICE, BOB, CAROL, CHANNEL, BotServer, slack_env

ADDRESSES = {"blue": ("127.0.0.32", 8000), "green": ("127.0.0.33", 8000),
             "public": ("127.0.0.31", 8080)}
FAST = "[slack]\nwatch_interval_s = 0.3\nlock_reminder_h = 0.0004\n"   # a reminder after ~1.5 s


@pytest.fixture
def slack():
    with SlackAPI(channels={CHANNEL: "deploys", "C0GENERAL": "general"},
                  users=dict([ALICE, BOB, CAROL])) as api:
        yield api


@pytest.fixture
def sandbox(tmp_path):
    sb = Sandbox(tmp_path / "sandbox", blue=ADDRESSES["blue"], green=ADDRESSES["green"],
                 public=ADDRESSES["public"])
    with sb:
        text = sb.config_path.read_text()
        text = text.replace("[slack]\n", FAST).replace("[deploy]\n", "[deploy]\nlease_s = 1\n")
        sb.config_path.write_text(text)
        yield sb


@pytest.fixture
def start_bot(sandbox, slack, tmp_path):
    def start(**extra: str) -> BotServer:
        return BotServer(slack_env(slack, **sandbox.env, **extra), tmp_path / "gunicorn.log", slack)
    return start


@pytest.fixture(scope="module")
def fault_sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("slack-faults") / "sb", blue=SANDBOX["blue"],
                 green=SANDBOX["green"], public=SANDBOX["public"], token=DO_TOKEN,
                 action_delay_s=0.05) as sb:
        text = sb.config_path.read_text()
        text = text.replace('deployers = ["U0ALICE"]',
                            'deployers = ["U0ALICE", "U0CAROL"]\nwatch_interval_s = 3600')
        assert "U0CAROL" in text
        sb.config_path.write_text(text)
        yield sb


@pytest.fixture
def world(fault_sandbox, tmp_path) -> Iterator[BotWorld]:
    with closing(BotWorld(fault_sandbox, tmp_path)) as w:
        yield w
