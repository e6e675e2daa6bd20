"""While a deploy runs, every other command is still acknowledged at once; a second
deploy is refused naming the holder; cancel stops it; Discard retires a release."""
from __future__ import annotations

import time

from sandbox.slack_api import buttons_of, render_message

from .support import BOB, CHANNEL
from .support import newest


def test_acks_stay_fast_while_a_deploy_is_held_and_cancel_stops_it(sandbox, start_bot, slack,
                                                                  tmp_path):
    pause = tmp_path / "pause"
    pause.mkdir()
    with start_bot(BLUEGREEN_PAUSE_AT="deploy:steps", BLUEGREEN_PAUSE_DIR=str(pause)) as bot:
        bot.command("/deploy", "main")
        slack.wait_for(lambda: (pause / "deploy:steps.reached").exists(), timeout=30)
        slowest = 0.0
        for i in range(30):                 # more than Bolt's five listener threads
            t0 = time.perf_counter()
            answer = bot.command("/deploy", ("status", "history", "help")[i % 3], user=BOB)
            slowest = max(slowest, time.perf_counter() - t0)
            assert answer.status_code == 200
        assert slowest < 0.5, f"an ack took {slowest:.3f}s"

        bot.command("/deploy", "main")                       # a second deploy meanwhile
        refused = newest(slack, "Deploy of `main` refused.")
        assert "🔒 @alice is running an operation since" in render_message(refused, slack.users)

        bot.command("/deploy", "cancel")
        newest(slack, "✋ @alice asked deploy #1 to stop after its current step.")
        (pause / "deploy:steps.go").write_text("")
        stopped = newest(slack, "Deploy of `main`", "cancelled.")
        assert "to 🟢 green cancelled." in render_message(stopped)
        assert buttons_of(stopped) == [] or [b["text"]["text"] for _, b in buttons_of(stopped)] == [
            "View log"]


def test_discard_button_retires_the_release(sandbox, start_bot, slack):
    with start_bot() as bot:
        bot.command("/deploy", "main")
        deployed = newest(slack, "ready to promote")
        bot.press("Discard")
        slack.wait_for(lambda: "discarded deploy #1" in render_message(
            slack.message(CHANNEL, deployed.ts), slack.users))
        assert buttons_of(slack.message(CHANNEL, deployed.ts)) == []
        bot.command("/promote", "")
        refused = newest(slack, "Promote refused.")
        assert "not promotable" in render_message(refused) and "discarded by" in render_message(refused)
        bot.press("Promote", message=deployed)                # an old copy of the message
        stale = slack.wait_for(lambda: slack.ephemeral("U0ALICE"))[0].text
        assert stale.startswith("This button is out of date") and "no longer promotable" in stale
        assert sandbox.live_identity() == "blue-sandbox"
