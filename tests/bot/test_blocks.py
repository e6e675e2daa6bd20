"""Block Kit builders and the words they carry (slack_sdk validates on to_dict)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from deploy_core import errors
from deploy_core.events import (Commit, Notice, OperationFinished, OperationStarted, OutputLine,
                                StepFinished, StepStarted)
from deploy_core.results import ColourStatus, DeployResult, Status, SwitchResult
from deploy_core.store.records import Deployment, HistoryItem, StepRecord
from handlers import blocks, reports, texts
from handlers.progress import OperationView
from sandbox.slack_api import Message, buttons_of, render_message

SHA1, SHA2 = "1a2b3c4" + "0" * 33, "9f8e7d6" + "1" * 33
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=timezone.utc)


def shown(blocks_: list[dict]) -> str:
    return render_message(Message("C0DEPLOYS", "1.1", "", blocks_), {"U0ALICE": "alice"})


def status(live, idle, colours: dict, router="ok") -> Status:
    """A status whose colours run ``colours[name] = (deployed sha, running sha, proven)``."""
    made = {name: ColourStatus(name, f"{name}-prod", sha, True, (), running=running,
                               running_proven=proven)
            for name, (sha, running, proven) in colours.items()}
    return Status(live, idle, router, "", made, None)


def test_topic_names_live_and_idle_colour_and_what_each_runs():
    assert texts.topic(status("green", "blue", {"green": (SHA1, SHA1, True), "blue": (SHA2, SHA2, True)})) \
        == "🟢 live: green @ 1a2b3c4 · idle: blue @ 9f8e7d6"
    # a fleet bluegreen never deployed: what the hosts answer, said to be found there
    assert texts.topic(status("blue", "green", {"blue": (None, SHA2, True), "green": (None, SHA1, False)})) \
        == ("🔵 live: blue @ 9f8e7d6 (not deployed by bluegreen) · idle: green @ 1a2b3c4 "
            "(not deployed by bluegreen; checked out, not proven served)")
    assert texts.topic(status("blue", "green", {"blue": (SHA2, None, False), "green": (None, None, False)})) \
        == "🔵 live: blue @ 9f8e7d6 (not read from the hosts) · idle: green @ unknown"
    assert "no colour is live" in texts.topic(status(None, None, {}, "unassigned"))
    assert len(texts.topic(status("blue", "green", {"blue": (None, SHA2, False), "green": (None, SHA1, False)}))) <= 250


def test_actor_is_readable_in_the_cli_and_a_mention_in_slack():
    actor = texts.actor("U0ALICE", "alice")
    assert actor == "alice (U0ALICE)" and texts.who(actor) == "<@U0ALICE>"
    assert texts.who("deploy") == "deploy"


def test_deploy_ready_offers_promote_and_discard_names_the_replaced_release_and_links_hosts():
    result = DeployResult(7, "green", "main", SHA1, SHA2, True, ("http://10.0.0.3", "http://10.0.0.4"),
                          smoke_checks=2)
    out = blocks.deploy_ready(result, 12.3)
    buttons = {b["action_id"]: b for _, b in buttons_of(Message("C", "1", "", out))}
    assert set(buttons) == {"promote", "discard"}
    assert buttons["promote"]["value"] == "7" and buttons["promote"]["confirm"]
    assert "confirm" not in buttons["discard"]
    text = shown(out)
    assert "`main` @ `1a2b3c4` is on 🟢 green" in text and "ready to promote" in text
    assert "replaced `9f8e7d6` on green" in text
    assert "10.0.0.3 (http://10.0.0.3)" in text and "10.0.0.4 (http://10.0.0.4)" in text


def test_promote_offers_rollback_with_a_confirm_dialog_and_rollback_offers_nothing():
    promoted = SwitchResult(3, "promote", "blue", "green", SHA2, SHA1, False, True, (), 2.0)
    out = blocks.switched(promoted)
    (_, rollback), = buttons_of(Message("C", "1", "", out))
    assert rollback["action_id"] == "rollback" and rollback["value"] == "3"
    assert "blue @ 9f8e7d6" in rollback["confirm"]["text"]["text"]
    rolled = SwitchResult(4, "rollback", "green", "blue", SHA1, SHA2, False, True, (), 1.0)
    assert buttons_of(Message("C", "1", "", blocks.switched(rolled))) == []
    forced = SwitchResult(5, "promote", "blue", "green", SHA2, SHA1, True, True, (), 1.0)
    assert "⚠️ forced: the smoke-test requirement was waived" in shown(blocks.switched(forced))


def test_progress_shows_each_step_with_state_elapsed_and_the_failure_tail():
    view = OperationView("deploy", "alice (U0ALICE)", ref="main")
    for event in [OperationStarted(kind="deploy", colour="green", actor="alice", ref="main",
                                   replaces=SHA2, op_id=9, at=100.0),
                  StepStarted(name="fetch", host="10.0.0.3", at=100.0),
                  StepFinished(name="fetch", host="10.0.0.3", ok=True, elapsed=0.4, at=100.4),
                  StepStarted(name="resolve", host="10.0.0.3", at=100.4),
                  OutputLine(name="resolve", host="10.0.0.3", stream="stdout", line=SHA1, at=100.5),
                  StepFinished(name="resolve", host="10.0.0.3", ok=True, elapsed=0.1, at=100.5),
                  StepStarted(name="step 1: make", host="10.0.0.3", at=100.5),
                  OutputLine(name="step 1: make", host="10.0.0.3", stream="stdout", line="compiling",
                             at=101.0)]:
        view.apply(event)
    text = shown(blocks.operation(view, now=103.0)[1])
    assert "🚀 Deploy `main` → 🟢 green" in text and "replaces 9f8e7d6 on green" in text
    assert "✅ fetch · 10.0.0.3 · 0.4s" in text
    assert "main → 1a2b3c4" in text
    assert "⏳ step 1: make · 10.0.0.3 · 2.5s — compiling" in text
    view.apply(StepFinished(name="step 1: make", host="10.0.0.3", ok=False, elapsed=3.0,
                            detail="exit 2", tail=("cc: error", "make: *** [all] Error 2")))
    view.apply(Notice(text="green ran the release that was live before", level="warning"))
    view.apply(OperationFinished(kind="deploy", ok=False, colour="green", message="failed",
                                 elapsed=3.6, sha=SHA1, op_id=9))
    failure = errors.StepFailed("step 1: make failed on 10.0.0.3 (exit 2)", host="10.0.0.3",
                                command="make", exit_status=2)
    view.outcome = blocks.failure(view, failure, log_id=9)
    text = shown(blocks.operation(view, now=110.0)[1])
    assert "❌ step 1: make · 10.0.0.3 · 3.0s — exit 2" in text
    assert "cc: error" in text and "make: *** [all] Error 2" in text
    assert "⚠️ green ran the release" in text
    assert "❌ Deploy of `main` @ `1a2b3c4` to 🟢 green failed." in text
    (_, view_log), = buttons_of(Message("C", "1", "", view.outcome))
    assert view_log["action_id"] == "view_log" and view_log["value"] == "9"


def test_many_steps_stay_inside_slack_limits():
    view = OperationView("deploy", "alice", ref="main")
    for i in range(400):
        view.apply(StepFinished(name=f"step {i}: " + "x" * 80, host=f"10.0.1.{i % 32}", ok=True,
                                elapsed=1.0, at=100.0))
    text, out = blocks.operation(view, now=200.0)
    assert len(out) <= 50 and all(len(b.get("text", {}).get("text", "")) <= 3000 for b in out)
    assert "earlier steps" in shown(out)


def test_a_refusal_before_anything_started_says_refused_and_why():
    view = OperationView("promote", "bob (U0BOB)")
    lock = errors.LockInfo("hold", "alice (U0ALICE)", "db migration", NOW - timedelta(hours=4))
    text = blocks.failure_text(view, errors.LockHeld.of(lock))
    assert text.startswith("🚫 *Promote refused.* 🔒 <@U0ALICE> holds deploys since 2026-11-03 06:00 UTC")
    assert "db migration" in text


def test_errors_read_like_slack_and_never_show_internals():
    refusal = errors.NotPromotable("x", needs="promote-force")
    assert "`/promote force`" in texts.error_text(refusal) and "--force" in str(refusal)
    assert "--force" not in texts.error_text(refusal)
    assert "<script>" not in texts.error_text(errors.SmokeError("got <script>"))
    odd = texts.error_text(KeyError("xoxb-secret"))
    assert "xoxb" not in odd and "unexpected KeyError" in odd


def test_release_notes_list_commits_with_author_and_subject():
    result = SwitchResult(3, "promote", "blue", "green", SHA2, SHA1, False, True,
                          (Commit(SHA1, "Fix checkout", "Ada"), Commit(SHA2, "Add <b>", "Grace")))
    text = shown(blocks.release_notes("shop", result))
    assert "Release notes: shop green @ 1a2b3c4 is live" in text
    assert "• `1a2b3c4` Fix checkout — Ada" in text and "Add <b> — Grace" in text


def test_lock_reminder_offers_unlock_for_that_hold():
    lock = errors.LockInfo("hold", "alice (U0ALICE)", "db migration", NOW)
    out = blocks.lock_reminder(lock)
    (_, unlock), = buttons_of(Message("C", "1", "", out))
    assert unlock["value"] == NOW.isoformat()
    assert "@alice has held deploys since 2026-11-03 10:00 UTC" in shown(out)


def test_a_pressed_message_keeps_its_text_and_loses_its_buttons():
    result = DeployResult(7, "green", "main", SHA1, None, True, ("http://10.0.0.3",), smoke_checks=1)
    out = blocks.without_actions(blocks.deploy_ready(result, 1.0), "Promote pressed by <@U0ALICE>.")
    assert buttons_of(Message("C", "1", "", out)) == []
    assert "ready to promote" in shown(out) and "Promote pressed by @alice." in shown(out)


def test_reports_are_valid_blocks():
    dep = Deployment(3, "green", "main", SHA1, "alice (U0ALICE)", "failed", None, NOW, NOW,
                     "step 1 failed", False, False, None, None)
    steps = [StepRecord(1, 3, "10.0.0.3", "step 1: make", "make", 2, "line\n" * 500, NOW,
                        NOW + timedelta(seconds=3))]
    text = shown(reports.log(dep, steps))
    assert "Deploy #3: main @ 1a2b3c4 → green (failed)" in text and "exit 2 · 3.0s" in text
    items = [HistoryItem("promote", 2, "green", None, SHA1, "alice (U0ALICE)", "succeeded", NOW, NOW,
                         None, "blue"),
             HistoryItem("deploy", 3, "green", "main", SHA1, "ci", "failed", NOW, NOW, "x")]
    text = shown(reports.history(items))
    assert "promote #2 blue → green @ `1a2b3c4` · succeeded · @alice" in text
    assert "deploy #3 `main`" in text
    assert "/deploy REF" in shown(reports.help_blocks())
