"""Slack's Web API failing while an operation runs, through the App on the sandbox:
``chat.update`` rate-limited (429 with Retry-After) and then answering 5xx during a
deploy, 5xx during a promote. The operation goes on without waiting for Slack, and the
final message — outcome, buttons, topic, release notes — still arrives.

Already covered (test_progress.py, the Progress class alone): throttling, the final state
retried through 500s, a failed first post retried at the end; the client waiting out a
429 (test_slack_api.py)."""
from __future__ import annotations

import pytest

from sandbox.slack_api import buttons_of, render_message
from tests.support.bot_faults import Bot

from .support import CHANNEL, newest


@pytest.fixture
def bot(world, slack):
    with Bot(world.config(), world.env, slack, progress_interval=0.2) as b:
        yield b


def test_deploy_goes_on_through_429_and_5xx_and_its_final_message_arrives(bot, world, slack):
    p = world.pipeline()
    # the client waits out two 429s itself (1 s each) and gives up on the third; then two 503s
    slack.rate_limit_next("chat.update", times=3, retry_after=1)
    slack.fail_next("chat.update", times=2, status=503)
    bot.command("/deploy", "main")
    done = slack.wait_for(lambda: (d := p.store.latest_deployment("green")) is not None
                          and d.status == "succeeded" and d, timeout=30)
    statuses = [c.status for c in slack.calls_to("chat.update")]
    assert 200 not in statuses, f"the deploy waited for Slack: updates so far {statuses}"
    bot.wait()
    statuses = [c.status for c in slack.calls_to("chat.update")]
    assert statuses[:5] == [429, 429, 429, 503, 503] and statuses[-1] == 200, statuses
    ready = newest(slack, "ready to promote")
    text = render_message(ready)
    assert f"`main` @ `{done.sha[:7]}` is on 🟢 green" in text
    assert "✅ smoke: home page" in text and "⏳" not in text
    assert [b["text"]["text"] for _, b in buttons_of(ready)] == ["Promote", "Discard"]
    assert slack.topic(CHANNEL).startswith("🔵 live: blue @ ")
    assert slack.topic(CHANNEL).endswith(f" · idle: green @ {done.sha[:7]}")


def test_promote_goes_on_through_5xx_and_its_messages_arrive(bot, world, slack):
    p = world.pipeline()
    result = p.deploy("main", "alice (U0ALICE)")
    slack.fail_next("chat.update", times=3, status=500)
    slack.fail_next("conversations.setTopic", times=1, status=502)
    bot.command("/promote", "")
    bot.wait()
    assert world.sb.live_identity() == "green-sandbox"
    assert [c.status for c in slack.calls_to("chat.update")][:3] == [500, 500, 500]
    promoted = newest(slack, "is live (was 🔵 blue")
    assert [b["text"]["text"] for _, b in buttons_of(promoted)] == ["Rollback"]
    newest(slack, "Release notes: shop green")
    # the topic failed once: the next look at the state sets it
    assert not slack.topic(CHANNEL).startswith("🟢")
    bot.command("/deploy", "status")
    bot.wait()
    assert slack.topic(CHANNEL).startswith(f"🟢 live: green @ {result.sha[:7]} · idle: blue @ ")
