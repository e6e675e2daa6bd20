"""The whole cycle through Slack on the sandbox: the bot under gunicorn, signed
slash commands and button clicks over HTTP, the Slack stand-in showing what the
channel shows at each point."""
from __future__ import annotations

import os
import signal
import time

from sandbox import DROPLETS, RESERVED_IP, repo
from sandbox.repo import release_files
from sandbox.slack_api import buttons_of, render_message

from .support import BOB, CHANNEL, channel_text, found, newest


def press_until_answered(bot, slack, label, message) -> str:
    """Press a button until the bot has finished the previous press (it says so meanwhile)."""
    for _ in range(50):
        slack.clear_calls()
        bot.press(label, message=message)
        answer = slack.wait_for(lambda: slack.ephemeral("U0ALICE"))[0].text
        if "pressed this a moment ago" not in answer:
            return answer
        time.sleep(0.1)
    raise AssertionError("the bot kept handling the previous press")


def test_deploy_promote_rollback_through_slack(sandbox, start_bot, slack):
    sha = sandbox.add_commit("Fix the checkout button", {"fix.txt": "fixed\n"})
    short = sha[:7]
    first = found(repo.commits(sandbox.origin)[0])      # what both colours ran before bluegreen
    with start_bot() as bot:
        slack.wait_for(lambda: slack.topic(CHANNEL) == f"🔵 live: blue @ {first} · idle: green @ {first}")

        answer = bot.command("/deploy", "main")
        assert answer.status_code == 200 and answer.text == ""        # acked, nothing to say
        deployed = newest(slack, "ready to promote")
        text = render_message(deployed, slack.users)
        assert f"`main` @ `{short}` is on 🟢 green in " in text
        assert "every host serves it, healthy, 3 smoke checks passed: ready to promote" in text
        assert f"This replaced `{first[:7]}` (not deployed by bluegreen) on green" in text
        assert "by @alice" in text and "✅ smoke: home page · 127.0.0.33" in text
        assert "Try it before it goes live: 127.0.0.33:8000 (http://127.0.0.33:8000)" in text
        assert [b["text"]["text"] for _, b in buttons_of(deployed)] == ["Promote", "Discard"]

        assert bot.press("Promote", user=BOB).status_code == 200       # not a deployer
        assert "Only <@U0ALICE> may" in slack.wait_for(lambda: slack.ephemeral("U0BOB"))[0].text
        assert sandbox.live_identity() == "blue-sandbox"

        bot.press("Promote")
        promoted = newest(slack, "is live (was 🔵 blue")
        assert f"🟢 green @ `{short}` is live" in render_message(promoted, slack.users)
        assert [b["text"]["text"] for _, b in buttons_of(promoted)] == ["Rollback"]
        assert sandbox.live_identity() == "green-sandbox"
        slack.wait_for(lambda: slack.topic(CHANNEL) == f"🟢 live: green @ {short} · idle: blue @ {first}")
        notes = newest(slack, "Release notes: shop green")
        assert "Fix the checkout button — Ada Lovelace" in render_message(notes)
        pressed = slack.message(CHANNEL, deployed.ts)
        assert buttons_of(pressed) == [] and "Promote pressed by @alice" in render_message(
            pressed, slack.users)

        old_rollback = slack.message(CHANNEL, promoted.ts)
        bot.press("Rollback")
        rolled = newest(slack, "is live again")
        assert f"🔵 blue @ `{first[:7]}` is live again (was 🟢 green @ `{short}`)" in render_message(rolled)
        assert sandbox.live_identity() == "blue-sandbox"
        slack.wait_for(lambda: slack.topic(CHANNEL) == f"🔵 live: blue @ {first} · idle: green @ {short}")

        # someone whose Slack still shows the old Rollback button presses it: nothing moves
        stale = press_until_answered(bot, slack, "Rollback", old_rollback)
        assert stale.startswith("This button is out of date, so it did nothing: a later switch")
        assert sandbox.live_identity() == "blue-sandbox"
        assert not [c for c in slack.calls if c.method == "chat.postMessage"]
        texts = "\n".join(channel_text(slack))
        assert "Traceback" not in texts and slack.token not in texts
        assert "Traceback" not in bot.log() and slack.token not in bot.log()
        assert "outside bluegreen" not in texts and "command line" not in texts


def test_failures_end_as_readable_messages_with_the_log_a_click_away(sandbox, start_bot, slack):
    app = release_files("9.9.9", "Closed")["app.py"].replace(
        'TITLE = "Welcome to shop"', 'TITLE = "Closed for inventory"')
    sha = sandbox.add_commit("Close the shop", {"app.py": app})
    with start_bot() as bot:
        bot.command("/deploy", "no-such-branch")
        unknown = newest(slack, "failed.")
        assert "no branch, tag or commit named 'no-such-branch'" in render_message(unknown)

        bot.command("/deploy", "main")
        failed = newest(slack, "❌ Deploy of `main`", "smoke test failed on green")
        text = render_message(failed, slack.users)
        assert f"❌ Deploy of `main` @ `{sha[:7]}` to 🟢 green failed." in text
        assert "❌ smoke: home page · 127.0.0.33" in text and "Welcome" in text
        assert [b["text"]["text"] for _, b in buttons_of(failed)] == ["View log"]

        bot.press("View log", user=BOB)                      # anyone may read a log
        log = slack.wait_for(lambda: slack.ephemeral("U0BOB"))[0]
        assert "step 1: git checkout" in render_message(log) and "exit 0" in render_message(log)

        bot.command("/promote", "")                          # smoke failed: refused, says why
        refused = newest(slack, "Promote refused.")
        assert "`/promote force`" in render_message(refused)
        assert sandbox.live_identity() == "blue-sandbox"


def test_outside_switch_lock_reminder_and_unlock_button(sandbox, start_bot, slack):
    with start_bot() as bot:
        slack.wait_for(lambda: slack.topic(CHANNEL).startswith("🔵 live: blue"))
        sandbox.do.assign_now(RESERVED_IP, DROPLETS["green"])          # by hand, in the console
        outside = newest(slack, "switched outside bluegreen", timeout=10)
        assert "🟢 green is live now (was 🔵 blue)" in render_message(outside)
        slack.wait_for(lambda: slack.topic(CHANNEL).startswith("🟢 live: green"))

        bot.command("/deploy", "lock db migration until 3pm")
        newest(slack, "🔒 @alice locked deploys: db migration until 3pm")
        bot.command("/deploy", "main")
        refused = newest(slack, "Deploy of `main` refused.")
        assert "🔒 @alice holds deploys since" in render_message(refused, slack.users)
        reminder = newest(slack, "Reminder: @alice has held deploys", timeout=15)
        assert "db migration until 3pm" in render_message(reminder, slack.users)
        bot.press("Unlock", message=reminder)
        unlocked = slack.wait_for(lambda: "unlocked deploys" in render_message(
            slack.message(CHANNEL, reminder.ts), slack.users))
        assert unlocked and buttons_of(slack.message(CHANNEL, reminder.ts)) == []


def test_a_bot_killed_mid_deploy_says_so_when_it_comes_back(sandbox, start_bot, slack, tmp_path):
    pause = tmp_path / "pause"
    pause.mkdir()
    bot = start_bot(BLUEGREEN_PAUSE_AT="deploy:health", BLUEGREEN_PAUSE_DIR=str(pause))
    with bot:
        bot.command("/deploy", "main")
        slack.wait_for(lambda: (pause / "deploy:health.reached").exists(), timeout=30)
        os.killpg(bot.proc.pid, signal.SIGKILL)                       # master and worker die
        bot.proc.wait(10)
    progress = slack.messages(CHANNEL)[-1]
    assert "Deploy" in render_message(progress, slack.users)
    with start_bot() as again:
        notice = newest(slack, "was interrupted", timeout=20)
        text = render_message(notice, slack.users)
        assert "Deploy #1 to green by @alice" in text and "deploy again before promoting" in text
        # the dead operation's own progress message no longer says it is running
        closed = render_message(slack.message(CHANNEL, progress.ts), slack.users)
        assert "was interrupted" in closed and "⏳" not in closed
        again.command("/deploy", "status")
        status = slack.wait_for(lambda: slack.ephemeral("U0ALICE"))[0]
        assert "No lock" in render_message(status)
