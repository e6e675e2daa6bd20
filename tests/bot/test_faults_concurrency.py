"""Twenty signed /deploy, /promote and /rollback requests at once (and again spread over
three seconds) from three people (two
deployers, one not) against one bot on the sandbox: every request is acknowledged within
Slack's three seconds, every person gets an answer, operations never overlap (the store's
deploys and switches follow one another), and the end state holds together — lock free,
nothing running, the router, the public URL and the topic agreeing on the live colour.

Already covered: acks stay fast while a deploy holds the lock (test_while_deploying.py);
two processes racing for the lock on Postgres (tests/e2e/test_lock_race.py,
tests/e2e/test_faults_state.py)."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest

from handlers import texts
from sandbox.slack_api import render_message
from tests.support.bot_faults import Answer, Bot

from .support import ALICE, BOB, CAROL, CHANNEL

COMMANDS = [("/deploy", "main"), ("/promote", ""), ("/rollback", "")]
USERS = [ALICE, CAROL, BOB, ALICE, CAROL]
TITLES = {"/deploy": "🚀 Deploy", "/promote": "🔀 Promote", "/rollback": "↩️ Rollback"}


@pytest.fixture
def bot(world, slack):
    with Bot(world.config(), world.env, slack, progress_interval=0.3) as b:
        yield b


def operation_messages(slack) -> Counter:
    """(title, user) of each operation message in the channel."""
    found: Counter = Counter()
    for m in slack.messages(CHANNEL):
        if len(m.blocks) < 2 or m.blocks[1].get("type") != "context":
            continue
        title = m.blocks[0].get("text", {}).get("text", "")
        by = m.blocks[1]["elements"][0]["text"]
        for slash, start in TITLES.items():
            if title.startswith("*" + start):
                found[(slash, by.split()[1])] += 1
    return found


def settled(slack) -> bool:
    return not [m for m in slack.messages(CHANNEL) if m.text.startswith(tuple(TITLES.values()))]


def burst(bot, requests, delays) -> dict[int, Answer]:
    """Send every request from its own thread, all released at once, each after its delay."""
    bodies = [bot.command_body(cmd, text, user) for user, cmd, text in requests]
    answers: dict[int, Answer] = {}
    go = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        go.wait(10)
        time.sleep(delays[i])
        answers[i] = bot.post(bodies[i])
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


@pytest.mark.parametrize("spread_s", [0.0, 3.0], ids=["all-at-once", "over-3s"])
def test_twenty_commands_at_once_are_all_answered_one_operation_at_a_time(bot, world, slack,
                                                                         spread_s):
    p = world.pipeline()
    p.deploy("main", "alice (U0ALICE)")
    p.promote("alice (U0ALICE)")                   # green live: deploy, promote and rollback
    world.sb.add_commit("Another release", {"another.txt": "x\n"})   # all have work to do
    slack.clear_calls()

    requests = [(USERS[i % 5], *COMMANDS[i % 3]) for i in range(20)]
    delays = [random.Random(i).uniform(0, spread_s) for i in range(20)]
    answers = burst(bot, requests, delays)
    bot.wait(120)
    slack.wait_for(lambda: settled(slack), timeout=30)

    # every request acknowledged, quickly; the one who may not act is told so, privately
    assert sorted(answers) == list(range(20))
    slowest = max(a.seconds for a in answers.values())
    assert all(a.status == 200 for a in answers.values())
    assert slowest < 2.5, f"an ack took {slowest:.2f}s"
    for i, (user, _, _) in enumerate(requests):
        said = answers[i].json()
        if user == BOB:
            assert said["response_type"] == "ephemeral" and "Only <@U0ALICE> and <@U0CAROL>" in \
                said["text"]
        else:
            assert said == {}
    # every deployer's request has its own message in the channel, ending in an outcome
    expected = Counter((cmd, f"<@{user[0]}>") for user, cmd, _ in requests if user != BOB)
    assert operation_messages(slack) == expected
    for m in slack.messages(CHANNEL):
        text = render_message(m, slack.users)
        assert "Traceback" not in text and "unexpected" not in text, text

    # operations one at a time: each recorded deploy or switch ends before the next starts
    history = sorted(p.history(200), key=lambda h: h.started_at)
    assert len(history) >= 3 and all(h.finished_at is not None and h.status != "running"
                                     for h in history)
    for before, after in zip(history, history[1:], strict=False):
        assert before.finished_at <= after.started_at, (before, after)

    # and the end state holds together
    st = p.status()
    assert st.lock is None and p.store.running_deployment() is None
    assert st.router == "ok" and world.sb.live_identity() == f"{st.live}-sandbox"
    assert slack.topic(CHANNEL) == texts.topic(st)
    print(f"slowest ack {slowest * 1000:.0f} ms; history: "
          + ", ".join(f"{h.kind} {h.status}" for h in history))
