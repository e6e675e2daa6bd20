"""Buttons act only for deployers and only while the state they were made for holds:
someone else's click, an old Promote after a newer deploy, a Discard after the promote,
a Rollback pressed twice (or three people at once), a captured click sent again, an old
Unlock after a new hold — each is refused with a sentence only the presser sees, and
history, the lock, what each colour runs, the topic and the serving colour stay as they were.

Already covered: a non-deployer's Promote and Unlock (test_cycle.py, test_http.py), an old
Rollback after the rollback (test_cycle.py), an old Promote after Discard
(test_while_deploying.py), non-deployers' slash commands (test_http.py)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from slack_sdk import WebClient

from handlers import blocks
from sandbox.slack_api import Message, buttons_of, render_message, signed_headers
from tests.support.bot_faults import Bot, snapshot

from .support import ALICE, BOB, CAROL, CHANNEL, SECRET, newest


@pytest.fixture
def bot(world, slack):
    with Bot(world.config(), world.env, slack) as b:
        yield b


def refused(bot, p, world, slack, says: str, label: str | None = None, message=None,
            user=ALICE, replay: tuple[str, dict] | None = None) -> str:
    """Click (or send ``replay`` again); assert a private refusal saying ``says`` and no change."""
    before = snapshot(p, world.sb, slack)
    slack.clear_calls()
    if replay is not None:
        answer = bot.post(replay[0], headers=replay[1])
    else:
        answer = bot.press(label, user, message)
    assert answer.status == 200 and answer.text == ""
    bot.wait()
    told = [m.text for m in slack.ephemeral(user[0])]
    assert len(told) == 1 and says in told[0], told
    assert not slack.calls_to("chat.postMessage") and not slack.calls_to("conversations.setTopic")
    assert snapshot(p, world.sb, slack) == before
    return told[0]


def test_promote_and_discard_refuse_others_and_the_state_they_were_not_made_for(bot, world, slack):
    p = world.pipeline()
    bot.command("/deploy", "main")
    bot.wait()
    first = newest(slack, "ready to promote")
    sha = world.sb.add_commit("Second release", {"second.txt": "2\n"})
    bot.command("/deploy", "main")
    bot.wait()
    second = newest(slack, "ready to promote", sha[:7])
    assert p.store.latest_deployment("green").id == 2

    # an old Promote and Discard, made for deploy #1, after deploy #2
    text = refused(bot, p, world, slack, "green's latest deploy is #2", "Promote", first)
    assert text.startswith("This button is out of date, so it did nothing")
    refused(bot, p, world, slack, "green's latest deploy is #2", "Discard", first)
    # somebody who is not a deployer, on the current buttons
    refused(bot, p, world, slack, "Only <@U0ALICE> and <@U0CAROL> may", "Promote", second, BOB)
    refused(bot, p, world, slack, "Only <@U0ALICE> and <@U0CAROL> may", "Discard", second, BOB)

    body = bot.press_body("Promote", CAROL, second)       # the click, as Slack sent it
    headers = signed_headers(SECRET, body)
    assert bot.post(body, headers=headers).status == 200
    bot.wait()
    newest(slack, "is live (was 🔵 blue")
    assert world.sb.live_identity() == "green-sandbox"

    # the same request again (within Slack's five minutes), a fresh click, and Discard
    refused(bot, p, world, slack, "deploy #2 is already live on green", replay=(body, headers),
            user=CAROL)
    refused(bot, p, world, slack, "deploy #2 is already live on green", "Promote", second)
    refused(bot, p, world, slack, "deploy #2 is already live on green", "Discard", second)
    assert [h.kind for h in p.history()] == ["promote", "deploy", "deploy"]
    shown = render_message(slack.message(CHANNEL, second.ts), slack.users)
    assert "Promote pressed by @carol" in shown and "Out of date" not in shown, shown
    assert "Out of date: green's latest deploy is #2" in render_message(
        slack.message(CHANNEL, first.ts))


def test_rollback_refuses_others_a_second_press_and_a_replay(bot, world, slack):
    p = world.pipeline()
    bot.command("/deploy", "main")
    bot.wait()
    bot.command("/promote", "")
    bot.wait()
    promoted = newest(slack, "is live (was 🔵 blue")
    assert [b["text"]["text"] for _, b in buttons_of(promoted)] == ["Rollback"]

    refused(bot, p, world, slack, "Only <@U0ALICE> and <@U0CAROL> may", "Rollback", promoted, BOB)

    # three deployers press Rollback at once: exactly one rollback
    presses = [(user, bot.press_body("Rollback", user, promoted)) for user in (ALICE, CAROL, ALICE)]
    sent = [(user, body, signed_headers(SECRET, body)) for user, body in presses]
    slack.clear_calls()
    answers: list = []
    threads = [threading.Thread(target=lambda b=b, h=h: answers.append(bot.post(b, headers=h)))
               for _, b, h in sent]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert [a.status for a in answers] == [200, 200, 200]
    bot.wait()
    assert [h.kind for h in p.history()].count("rollback") == 1
    assert world.sb.live_identity() == "blue-sandbox"
    told = [m.text for m in slack.ephemeral()]
    assert len(told) == 2 and all("pressed this a moment ago" in t or "out of date" in t
                                  for t in told), told

    # afterwards: the captured request again, and a fresh click on the old message
    user, body, headers = sent[0]
    refused(bot, p, world, slack, "a later switch happened since (rollback #2 to blue)", replay=(body, headers), user=user)
    refused(bot, p, world, slack, "a later switch happened since (rollback #2 to blue)", "Rollback", promoted)
    newest(slack, "is live again")
    shown = render_message(slack.message(CHANNEL, promoted.ts), slack.users)
    assert shown.count("Rollback pressed by @") == 1 and "Out of date" not in shown, shown


def test_an_old_unlock_button_does_not_lift_a_newer_hold(bot, world, slack):
    p = world.pipeline()
    client = WebClient(token=slack.token, base_url=slack.url)
    bot.command("/deploy", "lock db migration")
    bot.wait()
    hold = p.store.current_lock()
    ts = client.chat_postMessage(channel=CHANNEL, text="reminder",
                                 blocks=blocks.lock_reminder(hold))["ts"]
    old = slack.message(CHANNEL, ts)
    refused(bot, p, world, slack, "Only <@U0ALICE> and <@U0CAROL> may", "Unlock", old, BOB)
    body = bot.press_body("Unlock", ALICE, old)
    headers = signed_headers(SECRET, body)
    assert bot.post(body, headers=headers).status == 200
    bot.wait()
    assert p.store.current_lock() is None

    bot.command("/deploy", "lock second maintenance window")
    bot.wait()
    assert p.store.current_lock().reason == "second maintenance window"
    refused(bot, p, world, slack, "that hold has been lifted already", replay=(body, headers))
    refused(bot, p, world, slack, "that hold has been lifted already", "Unlock", old, CAROL)
    forged = Message(CHANNEL, ts, "reminder", blocks.lock_reminder(
        hold.__class__("hold", hold.holder, "db migration", datetime(2020, 1, 1, tzinfo=timezone.utc))))
    refused(bot, p, world, slack, "that hold has been lifted already", "Unlock", forged)
    assert p.store.current_lock().reason == "second maintenance window"
